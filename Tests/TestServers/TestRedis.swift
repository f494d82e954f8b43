import Foundation

/// The throwaway Redis server `make test` starts (`scripts/redis.sh`). Tests share it, each under a key
/// prefix and channel names of its own (``uniquePrefix()``).
public enum TestRedis {
    /// The server's URL, from `SWITCHBOARD_TEST_REDIS_URL`.
    public static func url() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_REDIS_URL"], !url.isEmpty else {
            throw TestServerMissing(variable: "SWITCHBOARD_TEST_REDIS_URL")
        }
        return url
    }

    /// A key and channel prefix no other test uses.
    public static func uniquePrefix() -> String {
        "t" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
    }
}

/// A Redis server of one test's own, for tests that stop and restart it under load.
public struct OwnRedis: Sendable {
    public let directory: String
    public let port: Int
    /// Whether the server speaks TLS only (with a CA of its own, `ca.crt` in its directory).
    public let tls: Bool
    let script: String

    public var url: String { tls ? "rediss://127.0.0.1:\(port)?ca=\(caFile)" : "redis://127.0.0.1:\(port)" }

    /// The CA that signed a TLS server's certificate (for 127.0.0.1 and localhost).
    public var caFile: String { directory + "/ca.crt" }

    /// Starts a fresh server on a free loopback port; with `tls`, TLS only.
    public static func start(tls: Bool = false) async throws -> OwnRedis {
        guard let script = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_REDIS_SCRIPT"] else {
            throw TestServerMissing(variable: "SWITCHBOARD_TEST_REDIS_SCRIPT")
        }
        // Under `make test`'s work directory, whose cleanup stops every server there even if a test failed.
        let parent = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_WORK"] ?? NSTemporaryDirectory()
        let directory = parent + "/redis-" + UUID().uuidString
        try await ServerScript.run(script, tls ? "start-tls" : "start", directory)
        let port = try String(contentsOfFile: directory + "/port", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return OwnRedis(directory: directory, port: Int(port)!, tls: tls, script: script)
    }

    /// Stops the server by the pid it recorded; its data is gone (no persistence).
    public func stop() async throws { try await ServerScript.run(script, "stop", directory) }

    /// Starts it again, empty, on the same port.
    public func restart() async throws { try await ServerScript.run(script, "restart", directory) }

    /// Stops the server and removes its directory.
    public func remove() async {
        try? await stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// A Redis Cluster of one test's own (`scripts/redis.sh start-cluster`): three primaries with a replica
/// each by default, on free loopback ports, every slot served when `start` returns.
public struct OwnRedisCluster: Sendable {
    public let directory: String
    /// Every node's `host:port`, in the order they were started.
    public let nodes: [String]
    let script: String

    public static func start(primaries: Int = 3, replicas: Int = 1) async throws -> OwnRedisCluster {
        guard let script = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_REDIS_SCRIPT"] else {
            throw TestServerMissing(variable: "SWITCHBOARD_TEST_REDIS_SCRIPT")
        }
        let parent = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_WORK"] ?? NSTemporaryDirectory()
        let directory = parent + "/redis-cluster-" + UUID().uuidString
        try await ServerScript.run(script, "start-cluster", directory, "\(primaries)", "\(replicas)")
        var nodes: [String] = []
        for index in 1...(primaries * (replicas + 1)) {
            let port = try String(contentsOfFile: "\(directory)/node-\(index)/port", encoding: .utf8)
            nodes.append("127.0.0.1:" + port.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return OwnRedisCluster(directory: directory, nodes: nodes, script: script)
    }

    /// Kills the node at `address` (`host:port`) with SIGKILL, as a crash would: no shutdown, no goodbye
    /// to the other nodes.
    public func kill(_ address: String) throws {
        guard let index = nodes.firstIndex(of: address) else { throw ServerScript.ScriptFailed(script: script, action: "kill \(address)", status: -1) }
        let pid = try String(contentsOfFile: "\(directory)/node-\(index + 1)/redis.pid", encoding: .utf8)
        guard let number = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)), Foundation.kill(number, SIGKILL) == 0 else {
            throw ServerScript.ScriptFailed(script: script, action: "kill \(address)", status: -1)
        }
    }

    /// Moves `count` slots, with their keys, from the first node's primary to the second's (`redis-cli
    /// --cluster reshard`); returns when it is done.
    public func reshard(slots count: Int) async throws {
        try await ServerScript.run(script, "reshard", directory, "\(count)")
    }

    /// SIGKILLs the busiest primary (the most commands per second now: `scripts/redis.sh kill-primary`).
    public func killBusiestPrimary() async throws {
        try await ServerScript.run(script, "kill-primary", directory)
    }

    /// Stops every node and removes the directory.
    public func remove() async {
        try? await ServerScript.run(script, "stop", directory)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension OwnRedisCluster {
    /// One cluster for every test of the run that asks for it, started at the first ask; `make test`'s
    /// cleanup stops it with the other servers under its work directory.
    public static func shared() async throws -> OwnRedisCluster { try await SharedCluster.instance.cluster() }
}

private actor SharedCluster {
    static let instance = SharedCluster()
    private var starting: Task<OwnRedisCluster, any Error>?

    func cluster() async throws -> OwnRedisCluster {
        if let starting { return try await starting.value }
        let task = Task { try await OwnRedisCluster.start() }
        starting = task
        return try await task.value
    }
}

/// Sentinel mode of its own (`scripts/redis.sh start-sentinel`): a primary, a replica and three
/// sentinels monitoring it as ``master``, on free loopback ports, settled when `start` returns.
public struct OwnRedisSentinel: Sendable {
    /// The name the sentinels monitor the primary by.
    public static let master = "switchboard"
    public let directory: String
    /// The sentinels' `host:port`.
    public let sentinels: [String]
    let script: String

    public static func start() async throws -> OwnRedisSentinel {
        guard let script = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_REDIS_SCRIPT"] else {
            throw TestServerMissing(variable: "SWITCHBOARD_TEST_REDIS_SCRIPT")
        }
        let parent = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_WORK"] ?? NSTemporaryDirectory()
        let directory = parent + "/redis-sentinel-" + UUID().uuidString
        try await ServerScript.run(script, "start-sentinel", directory)
        var sentinels: [String] = []
        for index in 1...3 {
            let port = try String(contentsOfFile: "\(directory)/sentinel-\(index)/port", encoding: .utf8)
            sentinels.append("127.0.0.1:" + port.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        return OwnRedisSentinel(directory: directory, sentinels: sentinels, script: script)
    }

    /// The data nodes' ports: the first started as the primary, the second as its replica.
    public func dataPort(_ index: Int) throws -> Int {
        let text = try String(contentsOfFile: "\(directory)/node-\(index)/port", encoding: .utf8)
        return Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    /// SIGKILLs data node `index` (1 or 2), as a crash would.
    public func kill(node index: Int) throws {
        let pid = try String(contentsOfFile: "\(directory)/node-\(index)/redis.pid", encoding: .utf8)
        guard let number = Int32(pid.trimmingCharacters(in: .whitespacesAndNewlines)), Foundation.kill(number, SIGKILL) == 0 else {
            throw ServerScript.ScriptFailed(script: script, action: "kill node-\(index)", status: -1)
        }
    }

    /// Starts data node `index` again on its port (a killed primary comes back; the sentinels demote it).
    public func restart(node index: Int) async throws {
        try await ServerScript.run(script, "restart", "\(directory)/node-\(index)")
    }

    /// Stops every server and removes the directory.
    public func remove() async {
        try? await ServerScript.run(script, "stop", directory)
        try? FileManager.default.removeItem(atPath: directory)
    }
}

extension OwnRedisSentinel {
    /// One Sentinel setup for every test of the run that asks for it; `make test`'s cleanup stops it.
    public static func shared() async throws -> OwnRedisSentinel { try await SharedSentinel.instance.sentinel() }
}

private actor SharedSentinel {
    static let instance = SharedSentinel()
    private var starting: Task<OwnRedisSentinel, any Error>?

    func sentinel() async throws -> OwnRedisSentinel {
        if let starting { return try await starting.value }
        let task = Task { try await OwnRedisSentinel.start() }
        starting = task
        return try await task.value
    }
}

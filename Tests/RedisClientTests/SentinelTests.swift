import ChatTesting
import Foundation
import Logging
import NIOCore
@testable import RedisClient
import Testing
import TestServers

/// The Sentinel client against real sentinels (a primary, a replica, three sentinels, started by the
/// test): the primary found, followed through a SIGKILL failover by commands and pub/sub, and a killed
/// primary that comes back (a primary in its own eyes until the sentinels demote it) never written to.
@Suite(.serialized) struct RedisSentinelClientTests {
    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    @Test func commandsAndPubSubFollowAFailoverAndNeverGoToTheDemotedPrimary() async throws {
        let setup = try await OwnRedisSentinel.start()
        var configuration = RedisConfiguration()
        configuration.backoff = RedisBackoff(base: .milliseconds(10), cap: .milliseconds(200))
        configuration.pubSubPingInterval = .milliseconds(500)
        configuration.commandTimeout = .seconds(2)
        let client = RedisSentinelClient(
            sentinels: setup.sentinels.compactMap { ClusterNodeAddress($0) }, master: OwnRedisSentinel.master, configuration: configuration,
            logger: Self.quiet)
        let link = client.subscriber(logger: Self.quiet)
        let (received, resumed) = (Recorder<String>(), Recorder<Void>())
        let services = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await client.run() }
                group.addTask { try? await link.run() }
                group.addTask {
                    for await event in link.events {
                        switch event {
                        case .message(let message): received.record(String(buffer: message.payload))
                        case .resumed: resumed.record(())
                        }
                    }
                }
            }
        }
        let (first, second) = (try setup.dataPort(1), try setup.dataPort(2))
        #expect(try await client.primary().port == first)
        try await eventually("the link subscribed") {
            (try? await link.subscribe(["news"])) != nil
        }
        try await client.execute(["SET", "kept", "before"])
        #expect(try await client.execute(["WAIT", 1, 1500]).int == 1, "the replica has it before the kill")
        try await client.execute(["PUBLISH", "news", "before"])
        try await eventually("the message before the failover") { received.all == ["before"] }

        try setup.kill(node: 1)
        try await eventually(timeout: .seconds(60), "commands on the promoted replica") {
            do {
                try await client.execute(["SET", "after", "1"])
                return true
            } catch {
                try await Task.sleep(for: .milliseconds(50))
                return false
            }
        }
        #expect(try await client.primary().port == second)
        #expect(try await client.execute(["GET", "kept"]).string == "before", "what the replica had acknowledged")
        try await eventually(timeout: .seconds(30), "the link on the new primary, the gap marked") { resumed.count >= 1 && link.isConnected }
        try await client.execute(["PUBLISH", "news", "after"])
        try await eventually("the message after the failover") { received.all.contains("after") }

        // The old primary comes back believing it is the primary, and stays so until the sentinels
        // demote it (their timers take 10 s or more, longer on a starved machine: the test does not wait
        // for it). Writes go on to the new primary only: the old one, asked atomically, is either still
        // a primary without them, or already a replica of the new one.
        try await setup.restart(node: 1)
        let old = RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: first))
        defer { old.close() }
        for index in 0..<20 { try await client.execute(["SET", "counter", RedisArgument(index)]) }
        try await client.execute(["SET", "counter", "last"])
        let replies = try await old.send([["MULTI"], ["ROLE"], ["GET", "counter"], ["EXEC"]])
        let state = try #require(replies.last?.array)
        let role = try #require(state.first?.array?.first?.string)
        #expect(role == "slave" || (role == "master" && state.last == .null), "the returned primary got no write: \(state)")
        let promoted = RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: second))
        defer { promoted.close() }
        #expect(try await promoted.execute(["GET", "counter"]).string == "last")
        #expect(try await client.primary().port == second)
        services.cancel()
        client.close()
        await setup.remove()
    }
}

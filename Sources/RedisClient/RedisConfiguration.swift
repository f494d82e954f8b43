import Foundation
import NIOSSL

/// Where and how to reach Redis, read from a URL: `redis://[[user]:password@]host[:port][/db]`, or
/// `rediss://…` for TLS (the server's certificate is verified against the system's roots, or against
/// `?ca=FILE`).
public struct RedisConfiguration: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// The ACL user; with only a password, the `default` user.
    public var user: String?
    public var password: String?
    public var database: Int
    public var tls: Bool
    /// A PEM file of the CA that signed the server's certificate; the system's roots when nil.
    public var caFile: String?
    /// Connections of the command pool (pub/sub has its own).
    public var poolSize: Int = 4
    /// How long a command waits for its reply before the connection is dropped.
    public var commandTimeout: Duration = .seconds(5)
    /// How long connecting (TCP, TLS, AUTH, SELECT) may take.
    public var connectTimeout: Duration = .seconds(5)
    /// Reconnect delays: `base × 2^attempt`, at most `maxBackoff`, with full jitter.
    public var backoff = RedisBackoff()
    /// How often the pub/sub connection is pinged to find a dead link.
    public var pubSubPingInterval: Duration = .seconds(5)
    /// Pub/sub messages held for a slow consumer; past it they are dropped and a `.resumed` event follows.
    public var pubSubBufferSize: Int = 10_000
    /// The name the connections give themselves (`CLIENT SETNAME`), for `CLIENT LIST`.
    public var clientName: String?

    public init(host: String = "127.0.0.1", port: Int = 6379, user: String? = nil, password: String? = nil, database: Int = 0, tls: Bool = false) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.database = database
        self.tls = tls
    }

    public init(url: String) throws(RedisError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw .invalidURL("expected redis://host:port/db or rediss://…")
        }
        guard scheme == "redis" || scheme == "rediss" else { throw .invalidURL("scheme must be redis or rediss, not '\(scheme)'") }
        guard let host = components.host, !host.isEmpty else { throw .invalidURL("no host") }
        self.init(host: host, port: components.port ?? 6379, tls: scheme == "rediss")
        guard (1...65535).contains(port) else { throw .invalidURL("port must be 1...65535") }
        if let user = components.user?.removingPercentEncoding, !user.isEmpty { self.user = user }
        if let password = components.password?.removingPercentEncoding { self.password = password }
        let path = components.path.drop { $0 == "/" }
        if !path.isEmpty {
            guard let database = Int(path), database >= 0 else { throw .invalidURL("the path must be a database number") }
            self.database = database
        }
        for item in components.queryItems ?? [] {
            switch item.name {
            case "ca": caFile = item.value
            default: throw .invalidURL("unknown parameter '\(item.name)'")
            }
        }
    }

    /// The TLS context for `rediss://`, nil for plain TCP.
    func sslContext() throws -> NIOSSLContext? {
        guard tls else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile { configuration.trustRoots = .file(caFile) }
        return try NIOSSLContext(configuration: configuration)
    }

    /// The URL without the password.
    public var description: String {
        let credentials = user.map { "\($0)@" } ?? (password == nil ? "" : "***@")
        return "\(tls ? "rediss" : "redis")://\(credentials)\(host):\(port)/\(database)"
    }
}

/// Exponential backoff with full jitter: the n-th delay is random in `0...min(cap, base × 2^n)`.
public struct RedisBackoff: Sendable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .milliseconds(50), cap: Duration = .seconds(5)) {
        self.base = base
        self.cap = cap
    }

    /// The delay before attempt `attempt + 1`, with `random` in 0...1.
    public func delay(after attempt: Int, random: Double = Double.random(in: 0...1)) -> Duration {
        let ceiling = min(cap, base * (1 << min(attempt, 20)))
        return ceiling * random
    }
}

/// Which Redis deployment a node uses: one server, a Redis Cluster found through its seeds, or the
/// primary Redis Sentinel names.
public enum RedisTarget: Sendable, CustomStringConvertible {
    case server(RedisConfiguration)
    /// A cluster: `configuration` holds what every node's connections share (credentials, TLS,
    /// timeouts) and its host and port are the first seed's.
    case cluster(seeds: [ClusterNodeAddress], configuration: RedisConfiguration)
    /// A primary and its replicas watched by sentinels: `configuration` holds what the data nodes'
    /// connections share; `master` is the name the sentinels monitor it by.
    case sentinel(sentinels: [ClusterNodeAddress], master: String, configuration: RedisConfiguration)

    /// Sentinel mode: the URL's host is the master's name (`redis://:password@mymaster/0`), its
    /// credentials, database and TLS the data nodes'; each sentinel is `host[:port]` (port 26379 when
    /// none is given).
    public init(url: String, sentinels: [String]) throws(RedisError) {
        let configuration = try RedisConfiguration(url: url)
        var addresses: [ClusterNodeAddress] = []
        for sentinel in sentinels {
            let text = sentinel.trimmingCharacters(in: .whitespaces)
            if let address = ClusterNodeAddress(text) {
                addresses.append(address)
            } else if !text.isEmpty, !text.contains(":") {
                addresses.append(ClusterNodeAddress(host: text, port: 26379))
            } else {
                throw .invalidURL("a sentinel must be host[:port], not '\(sentinel)'")
            }
        }
        guard !addresses.isEmpty else { throw .invalidURL("Sentinel mode needs at least one sentinel") }
        self = .sentinel(sentinels: addresses, master: configuration.host, configuration: configuration)
    }

    /// Reads `redis://[credentials@]host[:port][,host[:port]…][/db]`: several hosts name a cluster's
    /// seeds; one host is a server, or a cluster's one seed when `cluster` is true. A cluster has
    /// only database 0.
    public init(url: String, cluster: Bool = false) throws(RedisError) {
        guard let schemeEnd = url.range(of: "://") else { throw .invalidURL("expected redis://host:port/db or rediss://…") }
        let rest = url[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        let credentialsEnd = authority.lastIndex(of: "@")
        let hosts = authority[(credentialsEnd.map { authority.index(after: $0) } ?? authority.startIndex)...]
        let names = hosts.split(separator: ",", omittingEmptySubsequences: false)
        guard names.count > 1 || cluster else {
            self = .server(try RedisConfiguration(url: url))
            return
        }
        var seeds: [ClusterNodeAddress] = []
        var configuration: RedisConfiguration?
        for name in names {
            // Each host read as the URL with only that host, so credentials, TLS and checks are the same.
            let one = try RedisConfiguration(url: String(url[..<hosts.startIndex]) + name + String(rest[authorityEnd...]))
            guard one.database == 0 else { throw .invalidURL("a Redis Cluster has only database 0") }
            seeds.append(ClusterNodeAddress(host: one.host, port: one.port))
            if configuration == nil { configuration = one }
        }
        self = .cluster(seeds: seeds, configuration: configuration!)
    }

    /// True for a Redis Cluster (keys spread over shards by their hash tags).
    public var isCluster: Bool {
        if case .cluster = self { return true }
        return false
    }

    /// The settings every connection shares (for a cluster, with the first seed's address).
    public var configuration: RedisConfiguration {
        get {
            switch self {
            case .server(let configuration), .cluster(_, let configuration), .sentinel(_, _, let configuration): configuration
            }
        }
        set {
            switch self {
            case .server: self = .server(newValue)
            case .cluster(let seeds, _): self = .cluster(seeds: seeds, configuration: newValue)
            case .sentinel(let sentinels, let master, _): self = .sentinel(sentinels: sentinels, master: master, configuration: newValue)
            }
        }
    }

    /// The URL without the password (a cluster's seeds listed).
    public var description: String {
        switch self {
        case .server(let configuration): "\(configuration)"
        case .cluster(let seeds, let configuration): "cluster \(seeds.map(\.description).joined(separator: ",")) (\(configuration))"
        case .sentinel(let sentinels, let master, let configuration):
            "sentinel \(sentinels.map(\.description).joined(separator: ",")) master '\(master)' (\(configuration))"
        }
    }
}

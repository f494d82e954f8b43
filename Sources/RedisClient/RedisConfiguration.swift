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

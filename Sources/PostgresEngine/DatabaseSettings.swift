import ChatCore
import GroupCommit
import Foundation
import NIOSSL
import PostgresNIO

/// Where and how to reach PostgreSQL: a `postgres://user:password@host:port/database?sslmode=…` URL plus
/// the pool's size and the deadline of one store call.
///
/// Guarantees: a value exists only for a URL that names a host and a database and whose `sslmode` is one
/// libpq knows (`disable`, `allow`, `prefer`, `require`, `verify-ca`, `verify-full`; `prefer` when
/// absent, as in libpq). `description` never shows the password.
public struct DatabaseSettings: Sendable, CustomStringConvertible {
    /// How the connection uses TLS, with libpq's meaning of each `sslmode`.
    public enum TLSMode: String, Sendable, CaseIterable {
        /// No TLS.
        case disable
        /// TLS when the server offers it (`allow` and `prefer`).
        case prefer
        /// TLS or no connection, without checking the certificate (libpq's `require`).
        case require
        /// TLS with a certificate signed by a trusted root, any host name.
        case verifyCA = "verify-ca"
        /// TLS with a trusted certificate for this host name.
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// A PEM file of trusted roots (`sslrootcert`); the system's roots when nil.
    public var rootCertificates: String?
    /// Most connections this node opens.
    public var maxConnections: Int = Self.defaultMaxConnections
    public static let defaultMaxConnections = 20
    /// Connections kept open while idle (at most `maxConnections`), opened at start. PostgresNIO's pool
    /// starts a timer (three Swift tasks) every time a connection above the minimum goes idle, and a
    /// query takes the first idle connection: while the minimum carries the load, no timer runs.
    public var minConnections: Int = Self.defaultMinConnections
    public static let defaultMinConnections = 4
    /// How often an idle connection runs a keep-alive query; nil: never. Like the idle timer, the
    /// keep-alive is a timer started each time a connection goes idle (about an eighth of a busy node's
    /// CPU, bench/RESULTS.md); worth it only where something between the node and PostgreSQL drops idle
    /// connections without closing them (a NAT or load balancer with an idle timeout).
    public var keepAlive: Duration?
    /// How long one store call may wait for the database before it fails with `unavailable`.
    public var timeout: Duration = .seconds(5)
    /// Group commit of sends (``Batcher``).
    public var appendBatching = AppendBatching()

    /// Group commit: the most sends (of any conversations) stored in one transaction (one runs at a time
    /// per node), and how many sends may wait for it (beyond: `unavailable`, retryable).
    public typealias AppendBatching = BatchLimits

    /// Parses `url`; a validation error names what is wrong without repeating the password.
    public init(url: String) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme,
            ["postgres", "postgresql"].contains(scheme)
        else {
            throw ChatError.validation("the database URL must look like postgres://user:password@host:5432/database")
        }
        guard let host = components.host, !host.isEmpty else { throw ChatError.validation("the database URL names no host") }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw ChatError.validation("the database URL names no database (postgres://…/DATABASE)")
        }
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        let mode: TLSMode
        switch query["sslmode"] ?? "prefer" {
        case "disable": mode = .disable
        case "allow", "prefer": mode = .prefer
        case let other:
            guard let known = TLSMode(rawValue: other) else {
                throw ChatError.validation(
                    "the database URL's sslmode '\(other)' is not one of disable, allow, prefer, require, verify-ca, verify-full")
            }
            mode = known
        }
        self.host = host
        self.port = components.port ?? 5432
        self.user = components.user.flatMap { $0.removingPercentEncoding ?? $0 } ?? "postgres"
        self.password = components.password.flatMap { $0.removingPercentEncoding ?? $0 }
        self.database = database.removingPercentEncoding ?? database
        self.tls = mode
        self.rootCertificates = query["sslrootcert"]
    }

    public var description: String {
        "postgres://\(user)\(password == nil ? "" : ":***")@\(host):\(port)/\(database)?sslmode=\(tls.rawValue)"
    }

    /// The PostgresNIO client configuration these settings describe.
    func clientConfiguration() throws -> PostgresClient.Configuration {
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: try clientTLS())
        configuration.options.maximumConnections = maxConnections
        configuration.options.minimumConnections = min(minConnections, maxConnections)
        configuration.options.keepAliveBehavior = keepAlive.map { .init(frequency: $0) }
        configuration.options.connectTimeout = timeout
        return configuration
    }

    private func clientTLS() throws -> PostgresClient.Configuration.TLS {
        var context = TLSConfiguration.makeClientConfiguration()
        if let rootCertificates { context.trustRoots = .file(rootCertificates) }
        switch tls {
        case .disable: return .disable
        case .prefer:
            context.certificateVerification = .none
            return .prefer(context)
        case .require:
            context.certificateVerification = .none
            return .require(context)
        case .verifyCA:
            context.certificateVerification = .noHostnameVerification
            return .require(context)
        case .verifyFull:
            context.certificateVerification = .fullVerification
            return .require(context)
        }
    }
}

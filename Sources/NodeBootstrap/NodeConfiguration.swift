import ChatCore
import ChatNode
import ChatServer
import PostgresEngine

/// Everything a node is configured with, with defaults. Reading it from flags, environment variables
/// and a file is in `NodeConfiguration+ConfigReader.swift`; every key is listed in ``ConfigKeys`` and in
/// the README.
public struct NodeConfiguration: Sendable {
    public var server = ServerSettings()
    /// Where the embedded engine keeps its SQLite database and generated secret.
    public var dataDirectory: String = "./data"
    /// The PostgreSQL store (`postgres://user:password@host:port/database?sslmode=…`); the embedded SQLite
    /// store when nil.
    public var databaseURL: String?
    /// Most connections to PostgreSQL this node opens.
    public var databasePoolSize: Int = 20
    /// How long one store call may wait for PostgreSQL before it fails with `unavailable`.
    public var databaseTimeout: Duration = .seconds(5)
    /// HS256 secret; when neither this nor `jwksFile` is set, a secret is generated in the data directory.
    public var authSecret: String?
    /// A JWKS file of public (or private, for minting) keys for RS256/ES256 tokens.
    public var jwksFile: String?
    /// Node identity; a random one per start when unset.
    public var nodeID: String?
    public var limits = Limits()
    public var listCacheTTL: Duration = .seconds(60)
    public var typingThrottle: Duration = .seconds(2)
    public var typingExpiry: Duration = .seconds(5)
    public var presenceTTL: Duration = .seconds(30)
    /// How long a support agent may be gone before their unanswered requests return to the queue.
    public var supportRequeueAfter: Duration = .seconds(60)
    /// On SIGTERM: how long clients have to leave after the `reconnect` advisory before 1012.
    public var drainGrace: Duration = .seconds(5)
    /// The largest delay the advisory asks a client to wait before reconnecting (each gets a random one).
    public var drainJitter: Duration = .seconds(5)
    public var logLevel: String = "info"

    public init() {}

    /// The runtime settings derived from this configuration.
    public func nodeSettings(nodeID: NodeID) -> NodeSettings {
        var settings = NodeSettings(nodeID: nodeID, limits: limits)
        settings.listCacheTTL = listCacheTTL
        settings.typingThrottle = typingThrottle
        settings.typingExpiry = typingExpiry
        settings.presenceTTL = presenceTTL
        settings.supportRequeueAfter = supportRequeueAfter
        return settings
    }
}

extension NodeConfiguration {
    /// The PostgreSQL settings, when a database URL is configured.
    public var databaseSettings: DatabaseSettings? {
        get throws { try databaseURL.map { try databaseSettings(url: $0) } }
    }

    func databaseSettings(url: String) throws -> DatabaseSettings {
        var settings = try DatabaseSettings(url: url)
        settings.maxConnections = databasePoolSize
        settings.timeout = databaseTimeout
        return settings
    }
}

import ChatCore
import ChatNode
import ChatServer
import PostgresEngine
import RedisClient

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
    public var databasePoolSize: Int = DatabaseSettings.defaultMaxConnections
    /// Connections to PostgreSQL kept open while idle; nil: ``DatabaseSettings``' default (at most `databasePoolSize`).
    public var databasePoolMinimum: Int?
    /// How often an idle PostgreSQL connection runs a keep-alive query; nil: never.
    public var databaseKeepAlive: Duration?
    /// How long one store call may wait for PostgreSQL before it fails with `unavailable`.
    public var databaseTimeout: Duration = .seconds(5)
    /// Group commit of sends on PostgreSQL.
    public var appendBatching = DatabaseSettings.AppendBatching()
    /// Cluster mode: Redis for the broker, presence, cache and rate limits; in-process when nil.
    public var redisURL: String?
    /// The Redis URL names a Redis Cluster (also when it lists several hosts: its seeds).
    public var redisCluster = false
    /// Sentinel mode: the sentinels (`host:port`) that name the primary; the URL's host is the master's name.
    public var redisSentinels: [String] = []
    public var redisPoolSize: Int = 4
    /// Redis pub/sub connections (links), each with its own consumer on its own event loop.
    public var redisPubSubLinks: Int = 2
    public var redisTimeout: Duration = .seconds(2)
    /// Prefix of every Redis key and channel.
    public var redisPrefix: String = "sb"
    /// How often the node sends itself a canary over pub/sub (readiness needs one within three).
    public var canaryInterval: Duration = .seconds(2)
    /// HS256 secret; when neither this nor `jwksFile` is set, a secret is generated in the data directory.
    public var authSecret: String?
    /// A JWKS file of public (or private, for minting) keys for RS256/ES256 tokens.
    public var jwksFile: String?
    /// Node identity; a random one per start when unset.
    public var nodeID: String?
    public var limits = Limits()
    public var listCacheTTL: Duration = .seconds(60)
    public var activityCacheTTL: Duration = .seconds(60)
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
    /// Where away notices are POSTed; nil: no notices.
    public var notifyWebhookURL: String?
    /// The HMAC-SHA256 key that signs them.
    public var notifyWebhookSecret: String?
    /// The length of a notice window (the debounce).
    public var notifyDelay: Duration = .seconds(5)
    /// How long one webhook call may take.
    public var notifyTimeout: Duration = .seconds(5)
    /// The job runner: how many jobs at once, how long it waits at most, each kind's retry policy.
    public var jobs = JobRunner.Settings()
    /// How long after a user's connection comes up (or its catch-up ends) their `redeliver` check
    /// runs; nil: off.
    public var redeliverDelay: Duration? = .seconds(5)
    /// The demo page and its token minting; nil: on with the embedded engine, off in cluster mode.
    public var demo: Bool?
    /// How long a demo token lives.
    public var demoTokenLifetime: Duration = ConsoleSettings().demoTokenLifetime
    /// How often the node reports itself to the cluster's admin API (a report lives three of these).
    public var adminReportInterval: Duration = .seconds(5)
    /// Most sessions a node's admin report lists (newest first; the count is always whole).
    public var adminReportSessions: Int = 200

    public init() {}

    /// The console as configured: the demo follows the engine unless `demo.enabled` says otherwise.
    public var consoleSettings: ConsoleSettings {
        var settings = ConsoleSettings()
        settings.demo = demo ?? (redisURL == nil)
        settings.demoTokenLifetime = demoTokenLifetime
        return settings
    }

    /// The runtime settings derived from this configuration.
    public func nodeSettings(nodeID: NodeID) -> NodeSettings {
        var settings = NodeSettings(nodeID: nodeID, limits: limits)
        settings.listCacheTTL = listCacheTTL
        settings.activityCacheTTL = activityCacheTTL
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
        if let databasePoolMinimum { settings.minConnections = databasePoolMinimum }
        settings.keepAlive = databaseKeepAlive
        settings.timeout = databaseTimeout
        settings.appendBatching = appendBatching
        return settings
    }
}

extension NodeConfiguration {
    /// The Redis deployment and client settings, when a Redis URL is configured.
    public var redisTarget: RedisTarget? {
        get throws {
            guard let redisURL else { return nil }
            do {
                guard redisSentinels.isEmpty || !redisCluster else { throw RedisError.invalidURL("'redis.cluster' and 'redis.sentinels' exclude each other") }
                var target = try redisSentinels.isEmpty ? RedisTarget(url: redisURL, cluster: redisCluster) : RedisTarget(url: redisURL, sentinels: redisSentinels)
                target.configuration.poolSize = redisPoolSize
                target.configuration.commandTimeout = redisTimeout
                target.configuration.connectTimeout = redisTimeout
                return target
            } catch {
                throw ChatError.validation("configuration 'redis.url': \(error)")
            }
        }
    }
}

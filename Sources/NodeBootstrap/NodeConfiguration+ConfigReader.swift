import ChatCore
import ChatNode
import Configuration
import PostgresEngine
import RedisEngine

/// One configuration key: its dotted name (flag `--a-b`, variable `A_B`, JSON `{"a":{"b":…}}`), its
/// default and what it does. The README's table is this list.
public struct ConfigKeyInfo: Sendable {
    public let key: String
    public let defaultValue: String
    public let help: String

    /// The command-line flag: `http.port` is `--http-port`.
    public var flag: String { "--" + key.replacingDots(with: "-") }
    /// The environment variable: `http.port` is `HTTP_PORT`.
    public var variable: String { key.replacingDots(with: "_").uppercased() }
}

extension String {
    fileprivate func replacingDots(with separator: Character) -> String { String(map { $0 == "." ? separator : $0 }) }
}

/// Every key a node reads.
public enum ConfigKeys {
    public static let all: [ConfigKeyInfo] = [
        .init(key: "http.host", defaultValue: "127.0.0.1", help: "Address to listen on (0.0.0.0 for every interface)."),
        .init(key: "http.port", defaultValue: "8080", help: "Port to listen on (0 picks a free one)."),
        .init(key: "data.dir", defaultValue: "./data", help: "Embedded engine: directory of the SQLite database and the generated secret."),
        .init(key: "database.url", defaultValue: "(none: embedded SQLite)", help: "PostgreSQL store: postgres://user:password@host:5432/database; TLS per sslmode (disable, prefer, require, verify-ca, verify-full; sslrootcert=FILE)."),
        .init(key: "database.pool.max", defaultValue: "\(DatabaseSettings.defaultMaxConnections)", help: "Most PostgreSQL connections one node opens."),
        .init(key: "database.pool.min", defaultValue: "\(DatabaseSettings.defaultMinConnections)", help: "PostgreSQL connections opened at start and kept open while idle (at most database.pool.max); a connection above it costs a timer each time it goes idle."),
        .init(key: "database.keepalive.ms", defaultValue: "0", help: "How often an idle PostgreSQL connection runs a keep-alive query; 0: never. Set it where a NAT or load balancer drops idle connections silently; it costs a timer each time a connection goes idle."),
        .init(key: "database.timeout.ms", defaultValue: "5000", help: "Time one store call may wait for PostgreSQL before it fails with unavailable (retryable); on the embedded store, the longest a send waits for its group commit."),
        .init(key: "database.append.batch", defaultValue: "\(DatabaseSettings.AppendBatching().batch)", help: "Group commit: the most sends, of any conversations, stored in one transaction (one runs at a time per node; those that arrive meanwhile go together in the next)."),
        .init(key: "database.append.waiting", defaultValue: "\(DatabaseSettings.AppendBatching().waiting)", help: "Group commit: the most sends waiting for an append transaction; beyond it a send fails with unavailable (retryable)."),
        .init(key: "redis.url", defaultValue: "(none: in-process)", help: "Cluster mode: redis://[user:password@]host:6379/db (rediss:// for TLS, ?ca=FILE) for pub/sub, presence, cache and rate limits; needs database.url. Several hosts (redis://h1:7000,h2:7001) are a Redis Cluster's seeds."),
        .init(key: "redis.sentinels", defaultValue: "(none)", help: "Sentinel mode: the sentinels, host:port,… (port 26379 when none is given); redis.url's host is then the master's name (redis://:password@mymaster/0) and its credentials, database and TLS the data nodes'."),
        .init(key: "redis.cluster", defaultValue: "false", help: "The Redis URL is a Redis Cluster (implied when it lists several hosts): commands go to each key's shard, pub/sub is sharded (SSUBSCRIBE/SPUBLISH)."),
        .init(key: "redis.pool.size", defaultValue: "4", help: "Redis connections for commands (pub/sub has its own, `redis.pubsub.links`), spread over the event loops; callers pipeline on them, a caller on an event loop on that loop's first."),
        .init(key: "redis.pubsub.links", defaultValue: "2", help: "Redis pub/sub connections, each with its own consumer on its own event loop; channels are spread over them by name, so events of different conversations reach the hub in parallel (more than the node's cores gains nothing)."),
        .init(key: "redis.timeout.ms", defaultValue: "2000", help: "Time a Redis command may wait for its reply before the connection is dropped and the call fails with unavailable."),
        .init(key: "redis.prefix", defaultValue: "sb", help: "Prefix of every Redis key and channel: clusters that share a Redis need different ones."),
        .init(key: "redis.canary.ms", defaultValue: "2000", help: "How often a node sends itself a canary over pub/sub; readiness fails when none arrived for three intervals."),
        .init(key: "auth.secret", defaultValue: "(generated)", help: "HS256 secret for tokens. Unset with no JWKS: generated and kept in the data directory."),
        .init(key: "auth.jwks.file", defaultValue: "(none)", help: "JWKS file with RS256/ES256 keys; tokens signed by any of them are accepted."),
        .init(key: "notify.webhook.url", defaultValue: "(none: no notices)", help: "http(s) URL that gets a signed POST when posts reach participants with no live connection (away notices)."),
        .init(key: "notify.webhook.secret", defaultValue: "(none)", help: "HMAC-SHA256 key of the X-Switchboard-Signature header; required with notify.webhook.url, at least 16 bytes."),
        .init(key: "notify.delay.ms", defaultValue: "5000", help: "Length of the windows in which a conversation's posts make one away notice, sent when the window ends."),
        .init(key: "notify.timeout.ms", defaultValue: "5000", help: "Time one webhook call may take; a failed call is retried with backoff."),
        .init(key: "node.id", defaultValue: "(random)", help: "This node's id in the cluster: 1 to 64 letters, digits, '-', '_' or '.'."),
        .init(key: "log.level", defaultValue: "info", help: "trace, debug, info, notice, warning, error or critical."),
        .init(key: "limits.frame.bytes", defaultValue: "65536", help: "Largest WebSocket message; larger ones get a validation error, the socket stays open."),
        .init(key: "limits.transport.frame.bytes", defaultValue: "1048576", help: "Largest single WebSocket frame; larger ones close the socket with 1009."),
        .init(key: "limits.content.bytes", defaultValue: "16384", help: "Largest message content (UTF-8 bytes)."),
        .init(key: "limits.metadata.bytes", defaultValue: "4096", help: "Largest message metadata (JSON bytes)."),
        .init(key: "limits.title.length", defaultValue: "200", help: "Longest group title or support subject, in characters (Unicode code points) as sent."),
        .init(key: "limits.group.participants", defaultValue: "1000", help: "Most participants in a group."),
        .init(key: "limits.page.max", defaultValue: "200", help: "Largest page a client may ask for (history, conversation list)."),
        .init(key: "limits.page.default", defaultValue: "50", help: "Page size when a client names none."),
        .init(key: "limits.auth.deadline.ms", defaultValue: "10000", help: "Time a WebSocket without a token has to send its auth frame."),
        .init(key: "limits.sends.inflight", defaultValue: "\(Limits().sendsInFlight)", help: "Sends (message.send) one WebSocket connection may have in flight: stored in the order sent, their commits overlapping; replies name their request in re. 1: one request at a time."),
        .init(key: "limits.outbound.frames", defaultValue: "1024", help: "Frames queued per connection before it is closed as a slow consumer (4002)."),
        .init(key: "limits.outbound.close.ms", defaultValue: "5000", help: "Time a slow consumer's 4002 close frame may wait for its socket to drain before the socket is dropped."),
        .init(key: "limits.body.bytes", defaultValue: "65536", help: "Largest REST request body."),
        .init(key: "limits.reaction.length", defaultValue: "64", help: "Longest reaction (emoji or short code), in characters (Unicode code points)."),
        .init(key: "limits.presence.users", defaultValue: "200", help: "Most users one presence query may name."),
        .init(key: "limits.rate.messages", defaultValue: "20", help: "Messages (posts, edits, deletions, reactions) per second per user, on average, on all nodes together; over it: rate_limited."),
        .init(key: "limits.rate.burst", defaultValue: "40", help: "Messages a user may send at once before the per-second rate applies."),
        .init(key: "limits.rate.lease", defaultValue: "8", help: "Cluster mode: tokens a node takes from a user's bucket in Redis at once and spends locally (at most an eighth of the burst); 1: every message asks Redis."),
        .init(key: "limits.rate.lease.ms", defaultValue: "1000", help: "Cluster mode: how long a node may spend a lease's tokens before they lapse."),
        .init(key: "limits.connections.per.user", defaultValue: "20", help: "WebSocket connections per user on one node; the next is closed with 4003."),
        .init(key: "typing.throttle.ms", defaultValue: "2000", help: "A user's typing signals per conversation are passed on at most once per this interval."),
        .init(key: "typing.expiry.ms", defaultValue: "5000", help: "Clients show a typist as stopped this long after their last typing event."),
        .init(key: "presence.ttl.ms", defaultValue: "30000", help: "Longest a vanished connection (a crashed node's too) still counts as online: nodes heartbeat every quarter of it, entries live three quarters."),
        .init(key: "support.requeue.ms", defaultValue: "60000", help: "Time a support agent may be gone before the requests they hold without a reply return to the queue."),
        .init(key: "drain.grace.ms", defaultValue: "5000", help: "On SIGTERM: time clients get after the reconnect advisory before sockets are closed with 1012."),
        .init(key: "drain.jitter.ms", defaultValue: "5000", help: "Largest reconnect delay the advisory gives a client (each gets a random one)."),
        .init(key: "cache.list.ttl.ms", defaultValue: "60000", help: "Lifetime of a cached first page of a conversation list; below 600000 (the life of the keys it depends on)."),
        .init(key: "cache.activity.ttl.ms", defaultValue: "60000", help: "Lifetime of a conversation's cached activity (last seq, last activity, preview)."),
        .init(key: "ws.ping.interval.ms", defaultValue: "30000", help: "WebSocket ping interval; a client that leaves a ping unanswered for one interval is closed with 1001."),
        .init(key: "ws.close.timeout.ms", defaultValue: "5000", help: "Time a socket the node closes (drain, bad or expired token, auth timeout) may take to take its close frame and answer it before it is dropped."),
        .init(key: "redeliver.delay.ms", defaultValue: "\(NodeConfiguration().redeliverDelay?.wholeMilliseconds ?? 0)", help: "Redelivery: this long after a user's connection comes up (and after its catch-up ends), entries after their delivered watermark are sent to their connections again, then again on the redeliver kind's backoff, until a receipt.mark acknowledges them or they go offline; 0 turns it off (clients must mark deliveries and keep one entry per conversation and seq)."),
        .init(key: "demo.enabled", defaultValue: "(true on the embedded engine, false in cluster mode)", help: "Serve the demo chat page at /demo and mint tokens for any user at POST /demo/token: a development mode, never for production."),
        .init(key: "demo.token.ttl.ms", defaultValue: "\(NodeConfiguration().demoTokenLifetime.wholeMilliseconds)", help: "Lifetime of a token the demo page gets."),
        .init(key: "admin.report.interval.ms", defaultValue: "\(NodeConfiguration().adminReportInterval.wholeMilliseconds)", help: "How often a node reports itself (health, connections, counters) for the admin API; a report lives three intervals."),
        .init(key: "admin.report.sessions", defaultValue: "\(NodeConfiguration().adminReportSessions)", help: "Most connections one node's report lists for the admin page (newest first; the count is always whole)."),
        .init(key: "jobs.concurrency", defaultValue: "\(JobRunner.Settings().concurrency)", help: "Jobs (away notices, support requeues) one node runs at once."),
        .init(key: "jobs.idle.max.ms", defaultValue: "1000", help: "Longest the job runner waits before looking at the queue again when no job of its own node is due (jobs other nodes schedule are found this way)."),
        .init(key: "jobs.visibility.ms", defaultValue: "30000", help: "Time a claimed job stays its node's; a node that dies holding it loses it to another after this."),
    ] + RetryKeys.all
}

/// The retry policy's keys: `jobs.retry.*` for every job kind, and `jobs.retry.KIND.*` for one kind.
enum RetryKeys {
    static let kinds = [AwayNotices.kind, SupportDesk.requeueKind, Redelivery.kind]
    static let fields: [(name: String, help: String)] = [
        ("base.ms", "first retry's longest delay"), ("factor", "growth of the delay per attempt"), ("cap.ms", "longest delay"),
        ("attempts", "attempts before the job is dead-lettered"), ("jitter", "share of each delay drawn at random: 1 full jitter, 0 none"),
    ]

    static func prefix(_ kind: String?) -> String { kind.map { "jobs.retry.\($0)." } ?? "jobs.retry." }

    static func defaultValue(_ field: String, _ policy: RetryPolicy) -> String {
        switch field {
        case "base.ms": "\(policy.base.wholeMilliseconds)"
        case "factor": "\(policy.factor)"
        case "cap.ms": "\(policy.cap.wholeMilliseconds)"
        case "attempts": "\(policy.maxAttempts)"
        default: "\(policy.jitter)"
        }
    }

    static let all: [ConfigKeyInfo] = ([nil] + kinds.map(Optional.some)).flatMap { kind in
        fields.map { field in
            ConfigKeyInfo(
                key: prefix(kind) + field.name,
                defaultValue: kind.flatMap { JobRunner.Settings().policies[$0] }.map { defaultValue(field.name, $0) }
                    ?? (kind == nil ? defaultValue(field.name, RetryPolicy()) : "jobs.retry.\(field.name)"),
                help: kind.map { "Retry policy of \($0) jobs: \(field.help)." } ?? "Retry policy of every job kind: \(field.help).")
        }
    }

    /// The policy of `kind` (or the default one) as configured, over `fallback`.
    static func read(_ reader: ConfigReader, kind: String?, over fallback: RetryPolicy) -> RetryPolicy {
        let prefix = prefix(kind)
        var policy = fallback
        policy.base = .milliseconds(reader.int(forKey: ConfigKey(stringLiteral: prefix + "base.ms"), default: Int(defaultValue("base.ms", fallback))!))
        policy.factor = reader.double(forKey: ConfigKey(stringLiteral: prefix + "factor"), default: fallback.factor)
        policy.cap = .milliseconds(reader.int(forKey: ConfigKey(stringLiteral: prefix + "cap.ms"), default: Int(defaultValue("cap.ms", fallback))!))
        policy.maxAttempts = reader.int(forKey: ConfigKey(stringLiteral: prefix + "attempts"), default: fallback.maxAttempts)
        policy.jitter = reader.double(forKey: ConfigKey(stringLiteral: prefix + "jitter"), default: fallback.jitter)
        return policy
    }
}

extension NodeConfiguration {
    /// A `true`/`false` key; nil when unset.
    private static func flag(_ key: String, in reader: ConfigReader) throws -> Bool? {
        switch reader.string(forKey: ConfigKey(key))?.lowercased() {
        case nil: return nil
        case "true": return true
        case "false": return false
        case let other?: throw ChatError.validation("configuration '\(key)' must be true or false, not '\(other)'")
        }
    }

    /// Reads every key in ``ConfigKeys`` from `reader`, keeping defaults for what is unset, then
    /// refuses settings a node cannot run with (``validate()``) unless `validating` is false (a tool
    /// that uses one part, such as `switchboard jobs`, checks what it uses).
    public init(reader: ConfigReader, validating: Bool = true) throws {
        self.init()
        server.host = reader.string(forKey: "http.host", default: server.host)
        server.port = reader.int(forKey: "http.port", default: server.port)
        server.pingInterval = .milliseconds(reader.int(forKey: "ws.ping.interval.ms", default: 30_000))
        server.closeTimeout = .milliseconds(reader.int(forKey: "ws.close.timeout.ms", default: 5_000))
        dataDirectory = reader.string(forKey: "data.dir", default: dataDirectory)
        databaseURL = reader.string(forKey: "database.url", isSecret: true)
        databasePoolSize = reader.int(forKey: "database.pool.max", default: databasePoolSize)
        databasePoolMinimum = reader.int(forKey: "database.pool.min")
        let keepAlive = reader.int(forKey: "database.keepalive.ms", default: 0)
        guard keepAlive >= 0 else { throw ChatError.validation("configuration 'database.keepalive.ms' must be 0 (never) or positive") }
        databaseKeepAlive = keepAlive > 0 ? .milliseconds(keepAlive) : nil
        databaseTimeout = .milliseconds(reader.int(forKey: "database.timeout.ms", default: 5_000))
        appendBatching.batch = reader.int(forKey: "database.append.batch", default: appendBatching.batch)
        appendBatching.waiting = reader.int(forKey: "database.append.waiting", default: appendBatching.waiting)
        // A flag's value with commas (a cluster's seeds) reads as a list, not as a string: join it back.
        redisURL = reader.string(forKey: "redis.url", isSecret: true) ?? reader.stringArray(forKey: "redis.url", isSecret: true)?.joined(separator: ",")
        redisCluster = try Self.flag("redis.cluster", in: reader) ?? redisCluster
        redisSentinels = reader.stringArray(forKey: "redis.sentinels") ?? reader.string(forKey: "redis.sentinels")?.split(separator: ",").map(String.init) ?? []
        redisPoolSize = reader.int(forKey: "redis.pool.size", default: redisPoolSize)
        redisPubSubLinks = reader.int(forKey: "redis.pubsub.links", default: redisPubSubLinks)
        redisTimeout = .milliseconds(reader.int(forKey: "redis.timeout.ms", default: 2_000))
        redisPrefix = reader.string(forKey: "redis.prefix", default: redisPrefix)
        canaryInterval = .milliseconds(reader.int(forKey: "redis.canary.ms", default: 2_000))
        authSecret = reader.string(forKey: "auth.secret", isSecret: true)
        jwksFile = reader.string(forKey: "auth.jwks.file")
        nodeID = reader.string(forKey: "node.id")
        logLevel = reader.string(forKey: "log.level", default: logLevel)
        limits.maxFrameBytes = reader.int(forKey: "limits.frame.bytes", default: limits.maxFrameBytes)
        limits.maxTransportFrameBytes = reader.int(forKey: "limits.transport.frame.bytes", default: limits.maxTransportFrameBytes)
        limits.maxContentBytes = reader.int(forKey: "limits.content.bytes", default: limits.maxContentBytes)
        limits.maxMetadataBytes = reader.int(forKey: "limits.metadata.bytes", default: limits.maxMetadataBytes)
        limits.maxTitleLength = reader.int(forKey: "limits.title.length", default: limits.maxTitleLength)
        limits.maxGroupParticipants = reader.int(forKey: "limits.group.participants", default: limits.maxGroupParticipants)
        limits.maxPageSize = reader.int(forKey: "limits.page.max", default: limits.maxPageSize)
        limits.defaultPageSize = reader.int(forKey: "limits.page.default", default: limits.defaultPageSize)
        limits.authDeadline = .milliseconds(reader.int(forKey: "limits.auth.deadline.ms", default: 10_000))
        limits.outboundQueueFrames = reader.int(forKey: "limits.outbound.frames", default: limits.outboundQueueFrames)
        limits.sendsInFlight = reader.int(forKey: "limits.sends.inflight", default: limits.sendsInFlight)
        limits.slowConsumerCloseGrace = .milliseconds(reader.int(forKey: "limits.outbound.close.ms", default: 5_000))
        limits.maxRequestBodyBytes = reader.int(forKey: "limits.body.bytes", default: limits.maxRequestBodyBytes)
        limits.maxReactionLength = reader.int(forKey: "limits.reaction.length", default: limits.maxReactionLength)
        limits.maxPresenceQueryUsers = reader.int(forKey: "limits.presence.users", default: limits.maxPresenceQueryUsers)
        limits.messagesPerSecond = reader.double(forKey: "limits.rate.messages", default: limits.messagesPerSecond)
        limits.messageBurst = reader.int(forKey: "limits.rate.burst", default: limits.messageBurst)
        limits.messageLease = reader.int(forKey: "limits.rate.lease", default: limits.messageLease)
        limits.messageLeaseTime = .milliseconds(reader.int(forKey: "limits.rate.lease.ms", default: Int(limits.messageLeaseTime.wholeMilliseconds)))
        limits.connectionsPerUser = reader.int(forKey: "limits.connections.per.user", default: limits.connectionsPerUser)
        listCacheTTL = .milliseconds(reader.int(forKey: "cache.list.ttl.ms", default: 60_000))
        activityCacheTTL = .milliseconds(reader.int(forKey: "cache.activity.ttl.ms", default: 60_000))
        typingThrottle = .milliseconds(reader.int(forKey: "typing.throttle.ms", default: 2_000))
        typingExpiry = .milliseconds(reader.int(forKey: "typing.expiry.ms", default: 5_000))
        presenceTTL = .milliseconds(reader.int(forKey: "presence.ttl.ms", default: 30_000))
        supportRequeueAfter = .milliseconds(reader.int(forKey: "support.requeue.ms", default: 60_000))
        drainGrace = .milliseconds(reader.int(forKey: "drain.grace.ms", default: 5_000))
        drainJitter = .milliseconds(reader.int(forKey: "drain.jitter.ms", default: 5_000))
        notifyWebhookURL = reader.string(forKey: "notify.webhook.url")
        notifyWebhookSecret = reader.string(forKey: "notify.webhook.secret", isSecret: true)
        notifyDelay = .milliseconds(reader.int(forKey: "notify.delay.ms", default: 5_000))
        notifyTimeout = .milliseconds(reader.int(forKey: "notify.timeout.ms", default: 5_000))
        jobs.concurrency = reader.int(forKey: "jobs.concurrency", default: jobs.concurrency)
        jobs.maxIdle = .milliseconds(reader.int(forKey: "jobs.idle.max.ms", default: 1_000))
        jobs.visibility = .milliseconds(reader.int(forKey: "jobs.visibility.ms", default: 30_000))
        jobs.defaultPolicy = RetryKeys.read(reader, kind: nil, over: jobs.defaultPolicy)
        for kind in RetryKeys.kinds { jobs.policies[kind] = RetryKeys.read(reader, kind: kind, over: jobs.policy(for: kind)) }
        let redeliverDelay = reader.int(forKey: "redeliver.delay.ms", default: Int(redeliverDelay?.wholeMilliseconds ?? 0))
        guard redeliverDelay >= 0 else { throw ChatError.validation("configuration 'redeliver.delay.ms' must not be negative") }
        self.redeliverDelay = redeliverDelay > 0 ? .milliseconds(redeliverDelay) : nil
        demo = try Self.flag("demo.enabled", in: reader)
        demoTokenLifetime = .milliseconds(reader.int(forKey: "demo.token.ttl.ms", default: Int(demoTokenLifetime.wholeMilliseconds)))
        adminReportInterval = .milliseconds(reader.int(forKey: "admin.report.interval.ms", default: Int(adminReportInterval.wholeMilliseconds)))
        adminReportSessions = reader.int(forKey: "admin.report.sessions", default: adminReportSessions)
        if validating { try validate() }
    }

    /// Refuses settings that cannot work, naming the key.
    public func validate() throws {
        func positive(_ value: Int, _ key: String) throws {
            guard value > 0 else { throw ChatError.validation("configuration '\(key)' must be positive") }
        }
        guard (0...65535).contains(server.port) else { throw ChatError.validation("configuration 'http.port' must be 0...65535") }
        try positive(databasePoolSize, "database.pool.max")
        if let minimum = databasePoolMinimum, !(0...databasePoolSize).contains(minimum) {
            throw ChatError.validation("configuration 'database.pool.min' must be 0...database.pool.max (\(databasePoolSize))")
        }
        try positive(appendBatching.batch, "database.append.batch")
        try positive(appendBatching.waiting, "database.append.waiting")
        guard server.pingInterval > .zero else { throw ChatError.validation("configuration 'ws.ping.interval.ms' must be positive") }
        guard server.closeTimeout > .zero else { throw ChatError.validation("configuration 'ws.close.timeout.ms' must be positive") }
        guard databaseTimeout > .zero else { throw ChatError.validation("configuration 'database.timeout.ms' must be positive") }
        if let databaseURL { _ = try databaseSettings(url: databaseURL) }
        if redisURL != nil {
            _ = try redisTarget
            guard databaseURL != nil else {
                throw ChatError.validation("'redis.url' (cluster mode) needs 'database.url': nodes that share Redis must share a PostgreSQL store")
            }
        }
        try positive(redisPoolSize, "redis.pool.size")
        try positive(redisPubSubLinks, "redis.pubsub.links")
        guard redisTimeout > .zero else { throw ChatError.validation("configuration 'redis.timeout.ms' must be positive") }
        guard canaryInterval > .zero else { throw ChatError.validation("configuration 'redis.canary.ms' must be positive") }
        if let notifyWebhookURL {
            guard notifyWebhookURL.hasPrefix("http://") || notifyWebhookURL.hasPrefix("https://") else {
                throw ChatError.validation("configuration 'notify.webhook.url' must be an http:// or https:// URL")
            }
            guard (notifyWebhookSecret?.utf8.count ?? 0) >= 16 else {
                throw ChatError.validation("configuration 'notify.webhook.secret' must be set, at least 16 bytes, with 'notify.webhook.url'")
            }
        }
        try positive(jobs.concurrency, "jobs.concurrency")
        guard demoTokenLifetime > .zero else { throw ChatError.validation("configuration 'demo.token.ttl.ms' must be positive") }
        guard adminReportInterval > .zero else { throw ChatError.validation("configuration 'admin.report.interval.ms' must be positive") }
        guard adminReportSessions >= 0 else { throw ChatError.validation("configuration 'admin.report.sessions' must not be negative") }
        guard jobs.maxIdle > .zero else { throw ChatError.validation("configuration 'jobs.idle.max.ms' must be positive") }
        guard jobs.visibility > .zero else { throw ChatError.validation("configuration 'jobs.visibility.ms' must be positive") }
        for (kind, policy) in [(nil, jobs.defaultPolicy)] + jobs.policies.map({ (Optional($0.key), $0.value) }) {
            let prefix = RetryKeys.prefix(kind)
            guard policy.base > .zero, policy.cap >= policy.base else {
                throw ChatError.validation("configuration '\(prefix)base.ms' must be positive and '\(prefix)cap.ms' at least it")
            }
            guard policy.factor >= 1 else { throw ChatError.validation("configuration '\(prefix)factor' must be at least 1") }
            try positive(policy.maxAttempts, prefix + "attempts")
            guard (0...1).contains(policy.jitter) else { throw ChatError.validation("configuration '\(prefix)jitter' must be between 0 and 1") }
        }
        guard notifyDelay >= .zero else { throw ChatError.validation("configuration 'notify.delay.ms' must not be negative") }
        guard notifyTimeout > .zero else { throw ChatError.validation("configuration 'notify.timeout.ms' must be positive") }
        if let nodeID {
            // It names Redis keys and channels, and travels in every envelope.
            let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.".unicodeScalars)
            guard (1...64).contains(nodeID.utf8.count), nodeID.unicodeScalars.allSatisfy(allowed.contains) else { throw ChatError.validation("configuration 'node.id' must be 1 to 64 letters, digits, '-', '_' or '.'") }
        }
        guard !redisPrefix.isEmpty, !redisPrefix.contains(where: { $0.isWhitespace || $0 == "{" || $0 == "}" }) else {
            throw ChatError.validation("configuration 'redis.prefix' must be non-empty, without spaces or braces")
        }
        try positive(limits.maxFrameBytes, "limits.frame.bytes")
        try positive(limits.maxContentBytes, "limits.content.bytes")
        try positive(limits.maxPageSize, "limits.page.max")
        try positive(limits.outboundQueueFrames, "limits.outbound.frames")
        try positive(limits.sendsInFlight, "limits.sends.inflight")
        try positive(limits.maxReactionLength, "limits.reaction.length")
        try positive(limits.maxPresenceQueryUsers, "limits.presence.users")
        try positive(limits.messageBurst, "limits.rate.burst")
        try positive(limits.messageLease, "limits.rate.lease")
        try positive(Int(limits.messageLeaseTime.wholeMilliseconds), "limits.rate.lease.ms")
        try positive(limits.connectionsPerUser, "limits.connections.per.user")
        guard limits.messagesPerSecond > 0 else { throw ChatError.validation("configuration 'limits.rate.messages' must be positive") }
        guard limits.slowConsumerCloseGrace >= .zero else {
            throw ChatError.validation("configuration 'limits.outbound.close.ms' must not be negative")
        }
        guard supportRequeueAfter >= .zero else { throw ChatError.validation("configuration 'support.requeue.ms' must not be negative") }
        guard presenceTTL >= .milliseconds(30) else { throw ChatError.validation("configuration 'presence.ttl.ms' must be at least 30") }
        guard limits.maxTransportFrameBytes >= limits.maxFrameBytes else {
            throw ChatError.validation("'limits.transport.frame.bytes' must be at least 'limits.frame.bytes'")
        }
        // A cached list depends on its conversations' generation keys, which Redis keeps for
        // RedisCache.generationLifetime after their last change: a list must not outlive them.
        guard listCacheTTL > .zero, listCacheTTL < RedisCache.generationLifetime else {
            throw ChatError.validation("configuration 'cache.list.ttl.ms' must be positive and below \(RedisCache.generationLifetime.wholeMilliseconds)")
        }
        guard activityCacheTTL > .zero else { throw ChatError.validation("configuration 'cache.activity.ttl.ms' must be positive") }
        guard (1...limits.maxPageSize).contains(limits.defaultPageSize) else {
            throw ChatError.validation("'limits.page.default' must be between 1 and 'limits.page.max'")
        }
    }
}

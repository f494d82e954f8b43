import ChatCore
import ChatNode
import ChatServer
import ChatWire
import EmbeddedEngine
import EventLoops
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresEngine
import RedisClient
import RedisEngine
import Prometheus
import ServiceLifecycle
import Synchronization
import UnixSignals
import Webhooks

/// A whole Switchboard node: engines chosen from the configuration, the hub, the chat service and the
/// HTTP/WebSocket server, as one ServiceGroup. The only place that knows every engine.
public final class Node: Sendable {
    private let group: ServiceGroup
    private let closeStore: @Sendable () async -> Void
    private let ports: AsyncStream<Int>
    private let portContinuation: AsyncStream<Int>.Continuation
    public let nodeID: NodeID
    /// Every HTTP route this node serves (`METHOD /path`), for checking docs/openapi.json against.
    public let routes: [String]
    public let hub: Hub

    /// Builds a node; `signals` trigger a graceful shutdown (the CLI passes SIGTERM and SIGINT). `clock`
    /// is the node's one wall clock (tokens' expiry, timestamps, deadlines computed from it); tests
    /// inject a manual one.
    public init(
        configuration: NodeConfiguration, logger: Logger, signals: [UnixSignal] = [], clock: any WallClock = SystemWallClock()
    ) async throws {
        try configuration.validate()
        let nodeID = NodeID(configuration.nodeID ?? "node-" + RandomIDGenerator.token(length: 8))
        let settings = configuration.nodeSettings(nodeID: nodeID)
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.valueHistogramBuckets[NodeMetrics.appendBatchLabel] = NodeMetrics.appendBatchBuckets
        let metrics = NodeMetrics(factory: factory)
        let engine = try await Self.openStore(configuration, nodeID: nodeID, metrics: metrics, logger: logger)
        let store = MeteredStore(engine.store, metrics: metrics)
        let hub = Hub(store: store, clock: clock, settings: settings, metrics: metrics, logger: logger)
        let backends = try Self.openBackends(configuration, nodeID: nodeID, hub: hub, clock: clock, logger: logger)
        let broker = MeteredBroker(backends.broker, metrics: metrics)
        hub.attach(broker)
        let publisher = EventPublisher(broker: broker, node: nodeID)
        let presence = backends.presence
        // Jobs this node schedules wake its runner (set below, once the runner exists).
        let wakeRunner = ResumeAction()
        let jobs = MeteredJobQueue(backends.jobs, metrics: metrics, scheduled: { wakeRunner.run() })
        let notices = configuration.notifyWebhookURL.map { url in
            AwayNotices(
                queue: jobs, store: store, presence: presence,
                notifier: WebhookNotifier(url: url, secret: configuration.notifyWebhookSecret ?? "", timeout: configuration.notifyTimeout, clock: clock),
                clock: clock, delay: configuration.notifyDelay, logger: logger)
        }
        let service = ChatService(
            store: store, support: store, cache: MeteredCache(backends.cache, metrics: metrics), presence: presence, rateLimit: backends.rateLimit, publisher: publisher,
            changes: MeteredChangeFeed(backends.changes, metrics: metrics), clock: clock, ids: RandomIDGenerator(), settings: settings, notices: notices, logger: logger)
        let desk = SupportDesk(
            queue: jobs, presence: presence, service: service, clock: clock, requeueAfter: settings.supportRequeueAfter, logger: logger)
        let redelivery = configuration.redeliverDelay.map { delay in
            Redelivery(
                queue: jobs, store: store, presence: presence, publisher: publisher, notices: notices, clock: clock, delay: delay,
                policy: configuration.jobs.policy(for: Redelivery.kind), pageSize: settings.limits.maxPageSize, logger: logger)
        }
        let runner = JobRunner(
            queue: jobs, handlers: Self.jobHandlers(desk: desk, notices: notices, redelivery: redelivery), clock: clock, settings: configuration.jobs,
            worker: nodeID.rawValue, schedule: eventLoopSchedule, metrics: metrics, logger: logger)
        wakeRunner.set { runner.wake() }
        let tracker = PresenceTracker(
            presence: presence, store: store, publisher: publisher, hub: hub, settings: settings, desk: desk, logger: logger)
        backends.onResume.set { [hub, tracker] in
            hub.resync()
            tracker.restore()
        }
        let authenticator = try await JWTAuthenticator(keys: Self.tokenKeys(configuration, logger: logger), clock: clock)
        let driver = ConnectionDriver(
            service: service, hub: hub, presence: tracker, authenticator: authenticator, metrics: metrics, redelivery: redelivery,
            schedule: eventLoopSchedule, logger: logger)
        let readiness = Readiness(checks: backends.healthChecks)
        let reporter = NodeReporter(
            directory: backends.nodes, node: nodeID, interval: configuration.adminReportInterval,
            report: Self.report(
                node: nodeID, engine: configuration.redisURL == nil ? "embedded" : "cluster", startedAt: clock.now(), clock: clock, hub: hub,
                metrics: metrics, readiness: readiness, listed: configuration.adminReportSessions),
            logger: logger)
        let console = Console(
            admin: AdminService(directory: backends.nodes, jobs: jobs, reporter: reporter, clock: clock, limits: settings.limits),
            settings: configuration.consoleSettings, mint: { try await authenticator.mint($0) })
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self, bufferingPolicy: .bufferingNewest(1))
        let host = configuration.server.host
        let routes = ChatHTTPServer.routes(service: service, driver: driver, authenticator: authenticator, readiness: readiness, console: console)
        let app = ChatHTTPServer.application(
            service: service, driver: driver, authenticator: authenticator, readiness: readiness, console: console, server: configuration.server,
            exposition: {
                metrics.sessions.set(hub.sessionCount)
                metrics.relayedConversations.set(hub.relayedConversations)
                metrics.ready.set(readiness.isReady ? 1 : 0)
                metrics.brokerUp.set(backends.healthChecks.allSatisfy { $0() } ? 1 : 0)
                return registry.emitToBuffer()
            },
            logger: logger
        ) { port in
            readiness.set(true)
            logger.notice(
                "switchboard listening", metadata: ["http": "http://\(host):\(port)", "ws": "ws://\(host):\(port)/v1/ws", "node": "\(nodeID)"])
            if console.settings.demo {
                logger.notice("demo chat page (development tokens for any user: keep it off where strangers connect)", metadata: ["demo": "http://\(host):\(port)/demo"])
            }
            portContinuation.yield(port)
        }
        self.group = ServiceGroup(
            configuration: .init(
                services: engine.services + backends.services + [
                    // Shut down in reverse: readiness off first, then the drain, the server, the admin report, presence, jobs, hub,
                    // the pub/sub link, and the database pool last.
                    .init(service: hub), .init(service: runner), .init(service: tracker), .init(service: reporter), .init(service: app),
                    .init(service: Drainer(
                        hub: hub, grace: configuration.drainGrace, maxJitter: configuration.drainJitter,
                        closeTimeout: configuration.server.closeTimeout)),
                    .init(service: ReadinessGate(readiness: readiness)),
                ],
                gracefulShutdownSignals: signals, logger: logger))
        self.closeStore = { await engine.close(); backends.close() }
        self.ports = ports
        self.portContinuation = portContinuation
        self.nodeID = nodeID
        self.routes = routes
        self.hub = hub
    }

    /// Runs until a signal or ``shutdown()``; closes the store afterwards.
    public func run() async throws {
        // A node that fails before listening must still end `port()`, or its callers would wait forever.
        defer { portContinuation.finish() }
        do {
            try await group.run()
        } catch {
            await closeStore()
            throw error
        }
        await closeStore()
    }

    /// The store the configuration names: PostgreSQL (migrated first, its pool a service of the group)
    /// when a database URL is set, else the embedded SQLite store in the data directory.
    static func openStore(_ configuration: NodeConfiguration, nodeID: NodeID, metrics: NodeMetrics, logger: Logger) async throws
        -> (store: any ChatStore & SupportStore, services: [ServiceGroupConfiguration.ServiceConfiguration], close: @Sendable () async -> Void)
    {
        if let settings = try configuration.databaseSettings {
            logger.info("using the PostgreSQL store", metadata: ["database": "\(settings)"])
            try await Migrator.migrate(settings, by: nodeID.rawValue, logger: logger)
            let store = try PostgresStore(settings: settings, logger: logger, observeBatch: { metrics.appendBatch($0) })
            return (store, [.init(service: store)], {})
        }
        let store = try await SQLiteStore.open(
            directory: configuration.dataDirectory, batching: configuration.appendBatching, appendWait: configuration.databaseTimeout,
            observeBatch: { metrics.appendBatch($0) }, logger: logger)
        return (store, [], { await store.close() })
    }

    /// The broker, presence, cache, rate limit and job queue the configuration names: on Redis (cluster mode) when
    /// a Redis URL is set, else in-process.
    static func openBackends(_ configuration: NodeConfiguration, nodeID: NodeID, hub: Hub, clock: any WallClock, logger: Logger) throws
        -> Backends
    {
        guard var redis = try configuration.redisTarget else {
            let broker = InProcessBus().broker(node: nodeID, handler: { [hub] in hub.handle($0) })
            let cache = MemoryCache(clock: clock)
            return Backends(
                broker: broker, presence: MemoryPresence(clock: clock), cache: cache, changes: SequentialChangeFeed(cache: cache, broker: broker),
                rateLimit: MemoryRateLimit(clock: clock), jobs: MemoryJobQueue(clock: clock),
                nodes: MemoryNodeDirectory(clock: clock), services: [],
                healthChecks: [], onResume: ResumeAction(), close: {})
        }
        logger.info("cluster mode: broker, presence, cache, rate limits and jobs on Redis", metadata: ["redis": "\(redis)"])
        redis.configuration.clientName = "switchboard-\(nodeID.rawValue)"
        let (client, subscribers, watchers) = commandsAndLinks(redis, links: configuration.redisPubSubLinks, logger: logger)
        let prefix = configuration.redisPrefix
        let onResume = ResumeAction()
        let broker = RedisBroker(
            client: client, subscribers: subscribers, node: nodeID, prefix: prefix, canaryInterval: configuration.canaryInterval, logger: logger,
            handler: { [hub] in hub.handle($0) }, onResume: { onResume.run() })
        let cache = RedisCache(client: client, prefix: prefix)
        return Backends(
            broker: broker, presence: RedisPresence(client: client, prefix: prefix, spread: redis.isCluster), cache: cache,
            changes: RedisChangeFeed(cache: cache, broker: broker), rateLimit: LeasedRateLimit(
                RedisRateLimit(client: client, prefix: prefix), lease: configuration.limits.messageLease, lifetime: configuration.limits.messageLeaseTime,
                clock: clock),
            jobs: RedisJobQueue(client: client, prefix: prefix, clock: clock, spread: redis.isCluster),
            nodes: RedisNodeDirectory(client: client, prefix: prefix), services: watchers.map { .init(service: $0) } + [.init(service: broker)],
            healthChecks: [{ broker.isHealthy }], onResume: onResume, close: { client.close() })
    }

    /// The command client and `links` pub/sub links for `target`: a pool and subscribers on one server;
    /// a cluster client and sharded subscribers on a Redis Cluster; through Sentinel, a client of the
    /// primary it names and subscribers that follow it, with the client as a service (it listens for
    /// failovers). Each link takes the next event loop of the shared group.
    static func commandsAndLinks(_ target: RedisTarget, links: Int, logger: Logger)
        -> (client: any RedisCommands, links: [any RedisPubSubLink], services: [any Service])
    {
        switch target {
        case .server(let configuration):
            return (RedisClient(configuration: configuration), (0..<links).map { _ in RedisSubscriber(configuration: configuration, logger: logger) }, [])
        case .cluster(let seeds, let configuration):
            let cluster = RedisClusterClient(seeds: seeds, configuration: configuration)
            return (cluster, (0..<links).map { _ in RedisShardedSubscriber(cluster: cluster, logger: logger) }, [])
        case .sentinel(let sentinels, let master, let configuration):
            let client = RedisSentinelClient(sentinels: sentinels, master: master, configuration: configuration, logger: logger)
            return (client, (0..<links).map { _ in client.subscriber(logger: logger) }, [client])
        }
    }

    /// The cluster's job queue, for tools (`switchboard jobs`): on Redis, shared by every node. The
    /// embedded engine's queue lives in its node's memory, out of another process's reach: nil then.
    public static func sharedJobQueue(_ configuration: NodeConfiguration) throws -> (queue: any JobQueue, close: @Sendable () -> Void)? {
        guard var redis = try configuration.redisTarget else { return nil }
        redis.configuration.clientName = "switchboard-jobs-tool"
        let client = commandsAndLinks(redis, links: 0, logger: Logger(label: "switchboard.jobs")).client
        return (RedisJobQueue(client: client, prefix: configuration.redisPrefix, clock: SystemWallClock(), spread: redis.isCluster), { client.close() })
    }

    /// What this node tells the admin API about itself, read when asked.
    static func report(
        node: NodeID, engine: String, startedAt: Timestamp, clock: any WallClock, hub: Hub, metrics: NodeMetrics, readiness: Readiness,
        listed: Int
    ) -> NodeReporter.Report {
        {
            let sessions = hub.allSessions
            let totals = metrics.totals
            return NodeReportBody(
                node: node.rawValue, engine: engine, startedAt: startedAt.milliseconds, reportedAt: clock.now().milliseconds,
                ready: readiness.isReady, connections: metrics.sockets, sessions: sessions.count,
                users: Set(sessions.map(\.principal.user)).count,
                sessionsListed: sessions.sorted { $0.connectedAt > $1.connectedAt }.prefix(listed).map {
                    SessionBody(connection: $0.id.rawValue, user: $0.principal.user.rawValue, connectedAt: $0.connectedAt.milliseconds)
                },
                framesIn: totals.framesIn, eventsOut: totals.eventsOut, errors: totals.errors)
        }
    }

    /// Every job kind this node runs.
    static func jobHandlers(desk: SupportDesk, notices: AwayNotices?, redelivery: Redelivery?) -> [String: JobRunner.Handler] {
        var handlers: [String: JobRunner.Handler] = [SupportDesk.requeueKind: { try await desk.handle($0) }]
        if let notices { handlers[AwayNotices.kind] = { try await notices.handle($0) } }
        if let redelivery { handlers[Redelivery.kind] = { try await redelivery.handle($0) } }
        return handlers
    }

    struct Backends {
        var broker: any Broker
        var presence: any Presence
        var cache: any Cache
        /// The cache's invalidations and the broker's publishes of stored entries, together.
        var changes: any ChangeFeed
        var rateLimit: any RateLimit
        var jobs: any JobQueue
        var nodes: any NodeDirectory
        var services: [ServiceGroupConfiguration.ServiceConfiguration]
        var healthChecks: [@Sendable () -> Bool]
        /// What to do when the broker's link resumes after an interruption; set once the node's parts exist.
        var onResume: ResumeAction
        var close: @Sendable () -> Void
    }

    /// The bound port, once the server listens.
    public func port() async -> Int? {
        for await port in ports { return port }
        return nil
    }

    /// Starts a graceful shutdown.
    public func shutdown() async { await group.triggerGracefulShutdown() }

    /// The token keys the configuration names: a JWKS file, a secret, or a secret generated once and
    /// kept in the data directory (`jwt-secret`, mode 0600).
    public static func tokenKeys(_ configuration: NodeConfiguration, logger: Logger) throws -> TokenKeys {
        if let file = configuration.jwksFile {
            do {
                return .jwks(json: try String(contentsOfFile: file, encoding: .utf8))
            } catch {
                throw ChatError.validation("cannot read the JWKS file '\(file)': \(error.localizedDescription)")
            }
        }
        if let secret = configuration.authSecret { return .hmac(secret: secret) }
        let path = (configuration.dataDirectory as NSString).appendingPathComponent("jwt-secret")
        if let existing = try? String(contentsOfFile: path, encoding: .utf8), !existing.isEmpty {
            logger.info("using the HS256 secret kept in the data directory", metadata: ["path": "\(path)"])
            return .hmac(secret: existing.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let secret = RandomIDGenerator.token(length: 48)
        guard FileManager.default.createFile(atPath: path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ChatError.internal("cannot write the generated secret to '\(path)'")
        }
        logger.notice(
            "generated an HS256 secret and kept it in the data directory; `switchboard token --user NAME` mints tokens with it",
            metadata: ["path": "\(path)"])
        return .hmac(secret: secret)
    }
}

/// An action set after what calls it is built (the broker's resume needs the parts built after the
/// broker; the job queue's wake-up needs the runner built after the queue).
final class ResumeAction: Sendable {
    /// The closure sits in a class: a closure kept directly as a `Mutex`'s value is re-wrapped in a
    /// reabstraction thunk by every `withLock { $0 }` that reads it (the inout access writes it back
    /// converted), so each run would add a frame to the next one (`ResumeActionTests`).
    private final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    private let action = Mutex<Body?>(nil)
    func set(_ body: @escaping @Sendable () -> Void) { action.withLock { $0 = Body(body) } }
    func run() { action.withLock { $0 }?.run() }
}

/// Turns readiness off as soon as a graceful shutdown starts (it is the last service, so the first told).
struct ReadinessGate: Service {
    let readiness: Readiness
    func run() async throws {
        try? await gracefulShutdown()
        readiness.set(false)
    }
}

import ChatCore
import ChatTesting
import Logging
import RedisClient
import RedisEngine
import Testing
import TestServers

/// The Redis engine against the shared conformance suites (the embedded engine runs the same ones),
/// on the throwaway redis-server `make test` starts (and, in ``RedisClusterAndSentinelConformanceTests``,
/// on a Redis Cluster and through Sentinel, one of each for the whole run, stopped by `make test`'s
/// cleanup). Each harness has a key prefix of its own.
@Suite struct RedisConformanceTests {
    /// Where the engine runs: one server; a cluster through ``RedisClusterClient`` (pub/sub sharded:
    /// ``RedisShardedSubscriber`` links and `SPUBLISH`); the primary Sentinel names, through
    /// ``RedisSentinelClient``.
    enum Target: String, CaseIterable, CustomTestStringConvertible, Sendable {
        case server, cluster, sentinel

        var testDescription: String { rawValue }

        /// A client for the engine, a maker of pub/sub links on it, and how to close the client.
        func connect() async throws -> (commands: any RedisCommands, link: @Sendable () -> any RedisPubSubLink, close: @Sendable () -> Void) {
            switch self {
            case .server:
                var configuration = try RedisConfiguration(url: TestRedis.url())
                configuration.poolSize = 2
                let client = RedisClient(configuration: configuration)
                return (client, { [configuration] in RedisSubscriber(configuration: configuration, logger: quiet) }, { client.close() })
            case .cluster:
                let cluster = try await OwnRedisCluster.shared()
                var configuration = RedisConfiguration()
                configuration.poolSize = 2
                let client = RedisClusterClient(seeds: cluster.nodes.compactMap { ClusterNodeAddress($0) }, configuration: configuration)
                return (client, { RedisShardedSubscriber(cluster: client, logger: quiet) }, { client.close() })
            case .sentinel:
                let setup = try await OwnRedisSentinel.shared()
                var configuration = RedisConfiguration()
                configuration.poolSize = 2
                let client = RedisSentinelClient(
                    sentinels: setup.sentinels.compactMap { ClusterNodeAddress($0) }, master: OwnRedisSentinel.master, configuration: configuration,
                    logger: quiet)
                return (client, { client.subscriber(logger: quiet) }, { client.close() })
            }
        }
    }

    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// Redis keeps real time: moving it forward is waiting.
    static let wait: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }

    static func brokerFactory(_ target: Target) -> BrokerFactory {
        { handlers in
            let prefix = TestRedis.uniquePrefix()
            var brokers: [RedisBroker] = []
            var subscribers: [any RedisPubSubLink] = []
            var closes: [@Sendable () -> Void] = []
            for (index, handler) in handlers.enumerated() {
                let client = try await target.connect()
                // Nodes with one, two and three links: a channel's messages keep their order over any of them.
                let links = (0...index % 3).map { _ in client.link() }
                closes.append(client.close)
                subscribers += links
                brokers.append(
                    RedisBroker(client: client.commands, subscribers: links, node: NodeID("node-\(index)"), prefix: prefix, logger: quiet, handler: handler))
            }
            let running = brokers.map { broker in Task { try? await broker.run() } }
            try await eventually("every pub/sub link is up") { [subscribers] in subscribers.allSatisfy(\.isConnected) }
            return BrokerHarness(brokers: brokers) { [closes] in
                for task in running { task.cancel() }
                for task in running { await task.value }
                for close in closes { close() }
            }
        }
    }

    static func changeFeedFactory(_ target: Target) -> ChangeFeedFactory {
        { handler in
            let prefix = TestRedis.uniquePrefix()
            let client = try await target.connect()
            let subscriber = client.link()
            let broker = RedisBroker(
                client: client.commands, subscribers: [subscriber], node: NodeID("node-0"), prefix: prefix, logger: quiet, handler: handler)
            let cache = RedisCache(client: client.commands, prefix: prefix)
            let running = Task { try? await broker.run() }
            try await eventually("the pub/sub link is up") { subscriber.isConnected }
            return ChangeFeedHarness(feed: RedisChangeFeed(cache: cache, broker: broker), cache: cache, broker: broker) {
                running.cancel()
                await running.value
                client.close()
            }
        }
    }

    static func presenceFactory(_ target: Target) -> PresenceFactory {
        {
            let client = try await target.connect()
            // On a cluster, spread over partitions as the node does there.
            return PresenceHarness(presence: RedisPresence(client: client.commands, prefix: TestRedis.uniquePrefix(), spread: target == .cluster), advance: wait) {
                client.close()
            }
        }
    }

    static func cacheFactory(_ target: Target) -> CacheFactory {
        {
            let client = try await target.connect()
            return CacheHarness(cache: RedisCache(client: client.commands, prefix: TestRedis.uniquePrefix()), advance: wait) { client.close() }
        }
    }

    static func rateLimitFactory(_ target: Target) -> RateLimitFactory {
        {
            let prefix = TestRedis.uniquePrefix()
            let clients = [try await target.connect(), try await target.connect()]
            // Refills on a clock the checks drive (the script takes its time), not on real time: a real-time
            // refill check failed whenever the loaded machine stalled past its margin between two takes.
            let clock = ManualClock()
            return RateLimitHarness(
                limiters: clients.map { RedisRateLimit(client: $0.commands, prefix: prefix, clock: clock) }, advance: { clock.advance(by: $0) }
            ) {
                for client in clients { client.close() }
            }
        }
    }

    /// Times come from the caller's clock, so a manual one drives the checks. On a cluster, split over
    /// partitions as the node does there.
    static func jobQueueFactory(_ target: Target) -> JobQueueFactory {
        {
            let client = try await target.connect()
            let clock = ManualClock()
            return JobQueueHarness(
                queue: RedisJobQueue(
                    client: client.commands, prefix: TestRedis.uniquePrefix(), clock: clock, spread: target == .cluster),
                now: { clock.now() },
                advance: { clock.advance(by: $0) }, teardown: { client.close() })
        }
    }

    /// Two clients on one prefix: two nodes' views of one directory.
    static func nodeDirectoryFactory(_ target: Target) -> NodeDirectoryFactory {
        {
            let prefix = TestRedis.uniquePrefix()
            let clients = [try await target.connect(), try await target.connect()]
            return NodeDirectoryHarness(directories: clients.map { RedisNodeDirectory(client: $0.commands, prefix: prefix) }, advance: wait) {
                for client in clients { client.close() }
            }
        }
    }

    @Test(arguments: NodeDirectoryConformance.checks)
    func nodeDirectory(_ check: ConformanceCheck<NodeDirectoryFactory>) async throws {
        try await check.run(Self.nodeDirectoryFactory(.server))
    }

    @Test(arguments: JobQueueConformance.checks)
    func jobQueue(_ check: ConformanceCheck<JobQueueFactory>) async throws {
        try await check.run(Self.jobQueueFactory(.server))
    }

    @Test(arguments: ChangeFeedConformance.checks)
    func changeFeed(_ check: ConformanceCheck<ChangeFeedFactory>) async throws {
        try await check.run(Self.changeFeedFactory(.server))
    }

    @Test(arguments: BrokerConformance.checks)
    func broker(_ check: ConformanceCheck<BrokerFactory>) async throws {
        try await check.run(Self.brokerFactory(.server))
    }

    @Test(arguments: PresenceConformance.checks)
    func presence(_ check: ConformanceCheck<PresenceFactory>) async throws {
        try await check.run(Self.presenceFactory(.server))
    }

    @Test(arguments: CacheConformance.checks)
    func cache(_ check: ConformanceCheck<CacheFactory>) async throws {
        try await check.run(Self.cacheFactory(.server))
    }

    @Test(arguments: RateLimitConformance.checks)
    func rateLimit(_ check: ConformanceCheck<RateLimitFactory>) async throws {
        try await check.run(Self.rateLimitFactory(.server))
    }
}

/// The same suites on a Redis Cluster (three primaries with a replica each) and through Sentinel (a
/// primary, a replica, three sentinels), one setup of each for the whole run, one check at a time.
/// `make test` runs these suites in a stage of their own, after the whole suite (scripts/test.sh says why).
@Suite(.serialized) struct RedisClusterAndSentinelConformanceTests {
    static let targets: [RedisConformanceTests.Target] = [.cluster, .sentinel]

    @Test(arguments: targets, NodeDirectoryConformance.checks)
    func nodeDirectory(_ target: RedisConformanceTests.Target, _ check: ConformanceCheck<NodeDirectoryFactory>) async throws {
        try await check.run(RedisConformanceTests.nodeDirectoryFactory(target))
    }

    @Test(arguments: targets, JobQueueConformance.checks)
    func jobQueue(_ target: RedisConformanceTests.Target, _ check: ConformanceCheck<JobQueueFactory>) async throws {
        try await check.run(RedisConformanceTests.jobQueueFactory(target))
    }

    @Test(arguments: targets, ChangeFeedConformance.checks)
    func changeFeed(_ target: RedisConformanceTests.Target, _ check: ConformanceCheck<ChangeFeedFactory>) async throws {
        try await check.run(RedisConformanceTests.changeFeedFactory(target))
    }

    @Test(arguments: targets, BrokerConformance.checks)
    func broker(_ target: RedisConformanceTests.Target, _ check: ConformanceCheck<BrokerFactory>) async throws {
        try await check.run(RedisConformanceTests.brokerFactory(target))
    }

    @Test(arguments: targets, PresenceConformance.checks)
    func presence(_ target: RedisConformanceTests.Target, _ check: ConformanceCheck<PresenceFactory>) async throws {
        try await check.run(RedisConformanceTests.presenceFactory(target))
    }

    @Test(arguments: targets, CacheConformance.checks)
    func cache(_ target: RedisConformanceTests.Target, _ check: ConformanceCheck<CacheFactory>) async throws {
        try await check.run(RedisConformanceTests.cacheFactory(target))
    }

    @Test(arguments: targets, RateLimitConformance.checks)
    func rateLimit(_ target: RedisConformanceTests.Target, _ check: ConformanceCheck<RateLimitFactory>) async throws {
        try await check.run(RedisConformanceTests.rateLimitFactory(target))
    }
}

/// Presence and the job queue on a Redis Cluster do not sit in one slot: users' and jobs' keys spread
/// over the partitions' hash tags, and so over the shards.
@Suite struct RedisClusterSpreadTests {
    /// How many primaries hold keys matching `pattern`.
    static func shardsHolding(_ pattern: String, in client: RedisClusterClient) async throws -> (holding: Int, of: Int) {
        let map = try await client.topology()
        var holding = 0
        for primary in map.primaries {
            let direct = RedisClient(configuration: RedisConfiguration(host: primary.host, port: primary.port))
            let keys = try await direct.execute(["KEYS", RedisArgument(pattern)]).array ?? []
            direct.close()
            if !keys.isEmpty { holding += 1 }
        }
        return (holding, map.primaries.count)
    }

    @Test func jobsLiveOnEveryShardAndAreClaimedInDueOrder() async throws {
        let cluster = try await OwnRedisCluster.shared()
        let client = RedisClusterClient(seeds: cluster.nodes.compactMap { ClusterNodeAddress($0) }, configuration: RedisConfiguration())
        defer { client.close() }
        let prefix = TestRedis.uniquePrefix()
        let clock = ManualClock()
        let queue = RedisJobQueue(client: client, prefix: prefix, clock: clock, spread: true)
        let start = clock.now()
        for index in 0..<64 {
            try await queue.enqueue(Job(id: "job-\(index)", kind: "k", payload: []), due: start.advanced(by: .milliseconds(-1000 + index)))
        }
        let spread = try await Self.shardsHolding("\(prefix):{jobs:*", in: client)
        #expect(spread.holding == spread.of, "job keys on \(spread.holding) of \(spread.of) shards")
        var claimed: [String] = []
        while let claim = try await queue.claim(worker: "w", visibility: .seconds(30)) { claimed.append(claim.job.id) }
        #expect(claimed == (0..<64).map { "job-\($0)" }, "claimed in due order across the partitions")
        #expect(try await queue.stats().pending == ["k": 64])
    }

    @Test func usersPresenceKeysLiveOnEveryShard() async throws {
        let cluster = try await OwnRedisCluster.shared()
        let client = RedisClusterClient(seeds: cluster.nodes.compactMap { ClusterNodeAddress($0) }, configuration: RedisConfiguration())
        defer { client.close() }
        let prefix = TestRedis.uniquePrefix()
        let presence = RedisPresence(client: client, prefix: prefix, spread: true)
        for index in 0..<64 {
            _ = try await presence.connect(ConnectionID("c\(index)"), user: UserID("user-\(index)")!, node: NodeID("node-0"), ttl: .seconds(30))
        }
        let spread = try await Self.shardsHolding("\(prefix):{presence:*", in: client)
        #expect(spread.holding == spread.of, "presence keys on \(spread.holding) of \(spread.of) shards")
        let status = try await presence.status(of: (0..<64).map { UserID("user-\($0)")! })
        #expect(status.allSatisfy { $0.online })
    }
}

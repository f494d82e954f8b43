import ChatCore
import ChatTesting
import Logging
import RedisClient
import RedisEngine
import Testing
import TestServers

/// The Redis engine against the shared conformance suites (the embedded engine runs the same ones),
/// on the throwaway redis-server `make test` starts. Each harness has a key prefix of its own.
@Suite struct RedisConformanceTests {
    static func client() throws -> RedisClient {
        var configuration = try RedisConfiguration(url: TestRedis.url())
        configuration.poolSize = 2
        return RedisClient(configuration: configuration)
    }

    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// Redis keeps real time: moving it forward is waiting.
    static let wait: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }

    static let brokerFactory: BrokerFactory = { handlers in
        let prefix = TestRedis.uniquePrefix()
        var brokers: [RedisBroker] = []
        var subscribers: [RedisSubscriber] = []
        var clients: [RedisClient] = []
        for (index, handler) in handlers.enumerated() {
            let client = try Self.client()
            // Nodes with one, two and three links: a channel's messages keep their order over any of them.
            let links = (0...index % 3).map { _ in RedisSubscriber(configuration: client.configuration, logger: quiet) }
            clients.append(client)
            subscribers += links
            brokers.append(RedisBroker(client: client, subscribers: links, node: NodeID("node-\(index)"), prefix: prefix, logger: quiet, handler: handler))
        }
        let running = brokers.map { broker in Task { try? await broker.run() } }
        try await eventually("every pub/sub link is up") { [subscribers] in subscribers.allSatisfy(\.isConnected) }
        return BrokerHarness(brokers: brokers) { [clients] in
            for task in running { task.cancel() }
            for task in running { await task.value }
            for client in clients { client.close() }
        }
    }

    static let changeFeedFactory: ChangeFeedFactory = { handler in
        let prefix = TestRedis.uniquePrefix()
        let client = try Self.client()
        let subscriber = RedisSubscriber(configuration: client.configuration, logger: quiet)
        let broker = RedisBroker(client: client, subscribers: [subscriber], node: NodeID("node-0"), prefix: prefix, logger: quiet, handler: handler)
        let cache = RedisCache(client: client, prefix: prefix)
        let running = Task { try? await broker.run() }
        try await eventually("the pub/sub link is up") { subscriber.isConnected }
        return ChangeFeedHarness(feed: RedisChangeFeed(cache: cache, broker: broker), cache: cache, broker: broker) {
            running.cancel()
            await running.value
            client.close()
        }
    }

    static let presenceFactory: PresenceFactory = {
        let client = try Self.client()
        return PresenceHarness(presence: RedisPresence(client: client, prefix: TestRedis.uniquePrefix()), advance: wait) { client.close() }
    }

    static let cacheFactory: CacheFactory = {
        let client = try Self.client()
        return CacheHarness(cache: RedisCache(client: client, prefix: TestRedis.uniquePrefix()), advance: wait) { client.close() }
    }

    static let rateLimitFactory: RateLimitFactory = {
        let prefix = TestRedis.uniquePrefix()
        let clients = try [Self.client(), Self.client()]
        return RateLimitHarness(limiters: clients.map { RedisRateLimit(client: $0, prefix: prefix) }, advance: wait) {
            for client in clients { client.close() }
        }
    }

    /// Times come from the caller's clock, so a manual one drives the checks.
    static let jobQueueFactory: JobQueueFactory = {
        let client = try Self.client()
        let clock = ManualClock()
        return JobQueueHarness(
            queue: RedisJobQueue(client: client, prefix: TestRedis.uniquePrefix(), clock: clock), now: { clock.now() },
            advance: { clock.advance(by: $0) }, teardown: { client.close() })
    }

    /// Two clients on one prefix: two nodes' views of one directory.
    static let nodeDirectoryFactory: NodeDirectoryFactory = {
        let prefix = TestRedis.uniquePrefix()
        let clients = try [Self.client(), Self.client()]
        return NodeDirectoryHarness(directories: clients.map { RedisNodeDirectory(client: $0, prefix: prefix) }, advance: wait) {
            for client in clients { client.close() }
        }
    }

    @Test(arguments: NodeDirectoryConformance.checks) func nodeDirectory(_ check: ConformanceCheck<NodeDirectoryFactory>) async throws {
        try await check.run(Self.nodeDirectoryFactory)
    }

    @Test(arguments: JobQueueConformance.checks) func jobQueue(_ check: ConformanceCheck<JobQueueFactory>) async throws {
        try await check.run(Self.jobQueueFactory)
    }

    @Test(arguments: ChangeFeedConformance.checks) func changeFeed(_ check: ConformanceCheck<ChangeFeedFactory>) async throws {
        try await check.run(Self.changeFeedFactory)
    }

    @Test(arguments: BrokerConformance.checks) func broker(_ check: ConformanceCheck<BrokerFactory>) async throws {
        try await check.run(Self.brokerFactory)
    }

    @Test(arguments: PresenceConformance.checks) func presence(_ check: ConformanceCheck<PresenceFactory>) async throws {
        try await check.run(Self.presenceFactory)
    }

    @Test(arguments: CacheConformance.checks) func cache(_ check: ConformanceCheck<CacheFactory>) async throws {
        try await check.run(Self.cacheFactory)
    }

    @Test(arguments: RateLimitConformance.checks) func rateLimit(_ check: ConformanceCheck<RateLimitFactory>) async throws {
        try await check.run(Self.rateLimitFactory)
    }
}

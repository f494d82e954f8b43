import ChatCore
import ChatTesting
import EmbeddedEngine
import Foundation
import Logging
import Testing

/// The embedded engine against the shared conformance suites of every port.
@Suite struct EmbeddedConformanceTests {
    static let storeFactory: StoreFactory = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-store-\(UUID().uuidString)").path
        let store = try await SQLiteStore.open(directory: directory, logger: Logger(label: "test"))
        return StoreHarness(store: store) {
            await store.close()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static let brokerFactory: BrokerFactory = { handlers in
        let bus = InProcessBus()
        let brokers = handlers.enumerated().map { index, handler in bus.broker(node: NodeID("node-\(index)"), handler: handler) }
        return BrokerHarness(brokers: brokers) { brokers.forEach { $0.detach() } }
    }

    static let changeFeedFactory: ChangeFeedFactory = { handler in
        let broker = InProcessBus().broker(node: NodeID("node-0"), handler: handler)
        let cache = MemoryCache(clock: ManualClock())
        return ChangeFeedHarness(feed: SequentialChangeFeed(cache: cache, broker: broker), cache: cache, broker: broker) { broker.detach() }
    }

    static let presenceFactory: PresenceFactory = {
        let clock = ManualClock()
        return PresenceHarness(presence: MemoryPresence(clock: clock), advance: { clock.advance(by: $0) }, teardown: {})
    }

    static let cacheFactory: CacheFactory = {
        let clock = ManualClock()
        return CacheHarness(cache: MemoryCache(clock: clock), advance: { clock.advance(by: $0) }, teardown: {})
    }

    static let rateLimitFactory: RateLimitFactory = {
        let clock = ManualClock()
        // One node has every client: "shared" is one limiter seen twice.
        let limiter = MemoryRateLimit(clock: clock)
        return RateLimitHarness(limiters: [limiter, limiter], advance: { clock.advance(by: $0) }, teardown: {})
    }

    static let queueFactory: JobQueueFactory = {
        let clock = ManualClock()
        return JobQueueHarness(
            queue: MemoryJobQueue(clock: clock), now: { clock.now() }, advance: { clock.advance(by: $0) }, teardown: {})
    }

    /// One process, one directory: "two nodes' views" are the same one seen twice.
    static let nodeDirectoryFactory: NodeDirectoryFactory = {
        let clock = ManualClock()
        let directory = MemoryNodeDirectory(clock: clock)
        return NodeDirectoryHarness(directories: [directory, directory], advance: { clock.advance(by: $0) }, teardown: {})
    }

    @Test(arguments: ChangeFeedConformance.checks) func changeFeed(_ check: ConformanceCheck<ChangeFeedFactory>) async throws {
        try await check.run(Self.changeFeedFactory)
    }

    @Test(arguments: NodeDirectoryConformance.checks) func nodeDirectory(_ check: ConformanceCheck<NodeDirectoryFactory>) async throws {
        try await check.run(Self.nodeDirectoryFactory)
    }

    @Test(arguments: StoreConformance.checks) func store(_ check: ConformanceCheck<StoreFactory>) async throws {
        try await check.run(Self.storeFactory)
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

    @Test(arguments: JobQueueConformance.checks) func jobQueue(_ check: ConformanceCheck<JobQueueFactory>) async throws {
        try await check.run(Self.queueFactory)
    }

    @Test func storeSurvivesReopen() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-reopen-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try await SQLiteStore.open(directory: directory, logger: Logger(label: "test"))
        let (conversation, _) = try await first.createDirect(
            id: RandomIDGenerator().conversationID(), between: UserID("ann")!, and: UserID("bob")!, workspace: nil,
            at: Timestamp(milliseconds: 1))
        _ = try await first.append(
            MessageDraft(
                id: RandomIDGenerator().messageID(), conversation: conversation.id, sender: UserID("ann")!,
                clientID: ClientMessageID("1")!, kind: .text, content: "kept", metadata: nil, createdAt: Timestamp(milliseconds: 2)))
        await first.close()
        let second = try await SQLiteStore.open(directory: directory, logger: Logger(label: "test"))
        let page = try await second.messages(in: conversation.id, HistoryQuery(limit: 10))
        #expect(page.messages.map(\.content) == ["kept"])
        #expect(try await second.conversation(conversation.id)?.lastSeq == 1)
        await second.close()
    }
}

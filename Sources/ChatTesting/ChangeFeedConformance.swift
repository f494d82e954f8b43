import ChatCore

/// A change feed with the cache and the broker it works on; the broker delivers to the handler the
/// factory was given.
public struct ChangeFeedHarness: ConformanceHarness {
    public let feed: any ChangeFeed
    public let cache: any Cache
    public let broker: any Broker
    public let teardown: @Sendable () async -> Void
    public init(feed: any ChangeFeed, cache: any Cache, broker: any Broker, teardown: @escaping @Sendable () async -> Void) {
        self.feed = feed
        self.cache = cache
        self.broker = broker
        self.teardown = teardown
    }
}

/// Makes a feed on one fresh backend; its broker delivers to `handler`.
public typealias ChangeFeedFactory = @Sendable (_ handler: @escaping EnvelopeHandler) async throws -> ChangeFeedHarness

/// The ``ChangeFeed`` contract as checks.
public enum ChangeFeedConformance {
    public static let checks: [ConformanceCheck<ChangeFeedFactory>] = [
        .init("a receiver of the event reads the invalidated keys, and what depends on them, as misses", invalidatedBeforeTheEvent),
        .init("with no keys it only publishes: cached values stay", publishOnly),
    ]

    /// A cache read made when the event arrived.
    enum Read: Sendable, Equatable {
        case value([UInt8])
        case miss
        case failed(String)

        static func of(_ key: CacheKey, in cache: any Cache) async -> Read {
            do {
                return try await cache.read(key).value.map(Read.value) ?? .miss
            } catch {
                return .failed("\(error)")
            }
        }
    }

    /// What the receiving side saw: the envelope, then the two keys as read when it arrived.
    typealias Seen = (envelope: Envelope, first: Read, second: Read)

    static func with(
        _ factory: ChangeFeedFactory, reading keys: (CacheKey, CacheKey), _ body: (ChangeFeedHarness, Recorder<Seen>) async throws -> Void
    ) async throws {
        let seen = Recorder<Seen>()
        // The harness's cache, for the handler made before it (a recorder of one).
        let caches = Recorder<any Cache>()
        let harness = try await factory { envelope in
            // Read on arrival: the invalidation must already have happened.
            Task {
                guard let cache = caches.all.first else { return }
                let first = await Read.of(keys.0, in: cache)
                let second = await Read.of(keys.1, in: cache)
                seen.record((envelope, first, second))
            }
        }
        caches.record(harness.cache)
        try await using(harness) { try await body($0, seen) }
    }

    /// The receiver reads after the event arrived; an implementation that published first could still
    /// pass when its invalidation came quickly enough, so each keeps the order by construction (one
    /// pipeline on Redis, two awaited calls in memory) and this checks the outcome a receiver sees.
    static func invalidatedBeforeTheEvent(_ factory: ChangeFeedFactory) async throws {
        let conversation = ConversationID(uniqueName("c_"))!
        let activity = CacheKey.conversationActivity(conversation)
        let list = CacheKey.conversationList(UserID(uniqueName("ann"))!)
        try await with(factory, reading: (activity, list)) { harness, seen in
            let cache = harness.cache
            let activityTicket = try await cache.read(activity).ticket
            try await checkAsync(try await cache.fill(activity, [1], ttl: .seconds(60), ticket: activityTicket), "the activity is cached")
            try await checkAsync(
                try await cache.fill(
                    list, [2], ttl: .seconds(60), ticket: try await cache.read(list).ticket,
                    dependencies: [CacheDependency(key: activity, ticket: activityTicket)]),
                "a list that depends on it is cached")
            let channel = Channel.conversation(conversation)
            try await harness.broker.subscribe(channel)
            let envelope = Envelope(
                channel: channel, kind: .message, origin: NodeID("node-0"), eventID: 7, conversation: conversation, seq: 3,
                frame: Array("{\"type\":\"message.new\"}".utf8))
            try await harness.feed.announce(envelope, invalidating: [activity])
            try await eventually("the event arrives") { seen.count == 1 }
            let arrival = seen.all[0]
            try checkEqual(arrival.envelope, envelope, "the event arrives intact")
            try checkEqual(arrival.first, .miss, "the invalidated key reads as a miss when its event arrives")
            try checkEqual(arrival.second, .miss, "so does a value that depends on it")
        }
    }

    static func publishOnly(_ factory: ChangeFeedFactory) async throws {
        let conversation = ConversationID(uniqueName("c_"))!
        let activity = CacheKey.conversationActivity(conversation)
        let other = CacheKey.conversationActivity(ConversationID(uniqueName("c_"))!)
        try await with(factory, reading: (activity, other)) { harness, seen in
            let cache = harness.cache
            try await cache.fill(activity, [1], ttl: .seconds(60), ticket: try await cache.read(activity).ticket)
            try await cache.fill(other, [2], ttl: .seconds(60), ticket: try await cache.read(other).ticket)
            let channel = Channel.conversation(conversation)
            try await harness.broker.subscribe(channel)
            try await harness.feed.announce(
                Envelope(channel: channel, kind: .signal, origin: NodeID("node-0"), eventID: 1, conversation: conversation, frame: [1]),
                invalidating: [])
            try await eventually("the event arrives") { seen.count == 1 }
            try checkEqual(seen.all[0].first, .value([1]), "nothing was invalidated")
            try checkEqual(seen.all[0].second, .value([2]), "nothing was invalidated")
        }
    }
}

import ChatCore

/// A fresh cache and a way to move its time forward by at least a duration.
public struct CacheHarness: ConformanceHarness {
    public let cache: any Cache
    public let advance: @Sendable (Duration) async throws -> Void
    public let teardown: @Sendable () async -> Void
    public init(cache: any Cache, advance: @escaping @Sendable (Duration) async throws -> Void, teardown: @escaping @Sendable () async -> Void) {
        self.cache = cache
        self.advance = advance
        self.teardown = teardown
    }
}

public typealias CacheFactory = @Sendable () async throws -> CacheHarness

/// The ``Cache`` contract as checks.
public enum CacheConformance {
    public static let checks: [ConformanceCheck<CacheFactory>] = [
        .init("a filled value reads back until invalidated", fillReadInvalidate),
        .init("a fill with a ticket from before an invalidation stores nothing", staleFillRefused),
        .init("a value expires after its TTL", expiry),
        .init("a value with dependencies reads back until one of them is invalidated", dependencies),
        .init("a dependency invalidated between its ticket and the fill makes the value a miss", staleDependency),
    ]

    static func with(_ factory: CacheFactory, _ body: (CacheHarness) async throws -> Void) async throws {
        try await using(try await factory()) { try await body($0) }
    }

    static func fillReadInvalidate(_ factory: CacheFactory) async throws {
        try await with(factory) { harness in
            let cache = harness.cache
            let key = CacheKey.conversationList(UserID(uniqueName("ann"))!)
            let other = CacheKey.conversationActivity(ConversationID(uniqueName("c_"))!)
            let miss = try await cache.read(key)
            try checkEqual(miss.value, nil, "a miss")
            let bytes: [UInt8] = Array("{\"x\":[1,2,3]}".utf8) + [0, 255]
            try await checkAsync(try await cache.fill(key, bytes, ttl: .seconds(60), ticket: miss.ticket), "a fill after a miss stores")
            try await cache.fill(other, [1], ttl: .seconds(60), ticket: try await cache.read(other).ticket)
            try checkEqual(try await cache.read(key).value, bytes, "bytes intact")
            try await cache.fill(key, [7], ttl: .seconds(60), ticket: try await cache.read(key).ticket)
            try checkEqual(try await cache.read(key).value, [7], "overwritten")
            try await cache.invalidate([key])
            try checkEqual(try await cache.read(key).value, nil, "invalidated")
            try checkEqual(try await cache.read(other).value, [1], "others untouched")
        }
    }

    static func staleFillRefused(_ factory: CacheFactory) async throws {
        try await with(factory) { harness in
            let cache = harness.cache
            let key = CacheKey.conversationList(UserID(uniqueName("bob"))!)
            let other = CacheKey.conversationList(UserID(uniqueName("eve"))!)
            // A reader reads the cache and then the store; a writer changes the store and invalidates.
            let before = try await cache.read(key)
            try await cache.invalidate([key])
            try await checkAsync(!(try await cache.fill(key, [1], ttl: .seconds(60), ticket: before.ticket)), "a fill with a ticket from before the invalidation is refused")
            try checkEqual(try await cache.read(key).value, nil, "nothing stale stored")
            // Twice in a row, with a key that already had a value.
            try await cache.fill(key, [2], ttl: .seconds(60), ticket: try await cache.read(key).ticket)
            let second = try await cache.read(key)
            try checkEqual(second.value, [2])
            try await cache.invalidate([key, other])
            try await cache.invalidate([key])
            try await checkAsync(!(try await cache.fill(key, [3], ttl: .seconds(60), ticket: second.ticket)), "refused after two invalidations")
            try checkEqual(try await cache.read(key).value, nil)
            // Invalidating another key does not refuse this one's fill.
            let fresh = try await cache.read(key)
            try await cache.invalidate([other])
            try await checkAsync(try await cache.fill(key, [4], ttl: .seconds(60), ticket: fresh.ticket), "another key's invalidation does not refuse")
            try checkEqual(try await cache.read(key).value, [4])
        }
    }

    static func expiry(_ factory: CacheFactory) async throws {
        try await with(factory) { harness in
            let key = CacheKey.conversationActivity(ConversationID(uniqueName("c_"))!)
            try await harness.cache.fill(key, [1, 2], ttl: .seconds(1), ticket: try await harness.cache.read(key).ticket)
            try checkEqual(try await harness.cache.read(key).value, [1, 2])
            try await harness.advance(.milliseconds(1100))
            try await eventually("expiry") { try await harness.cache.read(key).value == nil }
        }
    }

    static func dependencies(_ factory: CacheFactory) async throws {
        try await with(factory) { harness in
            let cache = harness.cache
            let list = CacheKey.conversationList(UserID(uniqueName("ann"))!)
            let one = CacheKey.conversationActivity(ConversationID(uniqueName("c_"))!)
            let two = CacheKey.conversationActivity(ConversationID(uniqueName("c_"))!)
            let unrelated = CacheKey.conversationActivity(ConversationID(uniqueName("c_"))!)
            try await cache.invalidate([two])  // one dependency has a generation, the other none yet
            let ticket = try await cache.read(list).ticket
            let tickets = try await cache.tickets([one, two])
            try checkEqual(tickets.count, 2, "a ticket per key")
            let dependencies = zip([one, two], tickets).map { CacheDependency(key: $0, ticket: $1) }
            try await checkAsync(try await cache.fill(list, [9], ttl: .seconds(60), ticket: ticket, dependencies: dependencies), "stored")
            try checkEqual(try await cache.read(list).value, [9], "reads back while its dependencies stand")
            try await cache.invalidate([unrelated])
            try checkEqual(try await cache.read(list).value, [9], "a key it does not depend on changes nothing")
            try await cache.invalidate([one])
            try checkEqual(try await cache.read(list).value, nil, "a miss once a dependency is invalidated")
            // Filled again with fresh tickets, then the other dependency moves.
            let again = try await cache.read(list).ticket
            let fresh = zip([one, two], try await cache.tickets([one, two])).map { CacheDependency(key: $0, ticket: $1) }
            try await cache.fill(list, [10], ttl: .seconds(60), ticket: again, dependencies: fresh)
            try checkEqual(try await cache.read(list).value, [10])
            try await cache.invalidate([two])
            try checkEqual(try await cache.read(list).value, nil, "either dependency counts")
        }
    }

    static func staleDependency(_ factory: CacheFactory) async throws {
        try await with(factory) { harness in
            let cache = harness.cache
            let list = CacheKey.conversationList(UserID(uniqueName("bob"))!)
            let activity = CacheKey.conversationActivity(ConversationID(uniqueName("c_"))!)
            // The reader takes its tickets, then a writer changes the conversation, then the reader
            // (which read the store before the write) fills: the value must not read back.
            let ticket = try await cache.read(list).ticket
            let dependency = CacheDependency(key: activity, ticket: try await cache.tickets([activity])[0])
            try await cache.invalidate([activity])
            _ = try await cache.fill(list, [1], ttl: .seconds(60), ticket: ticket, dependencies: [dependency])
            try checkEqual(try await cache.read(list).value, nil, "what the write made stale never reads back")
        }
    }
}

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
}

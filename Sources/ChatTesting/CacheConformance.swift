import ChatCore

/// A fresh cache and a way to move its time forward by at least a duration.
public struct CacheHarness: Sendable {
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
        .init("a set value reads back until deleted", setGetDelete),
        .init("a value expires after its TTL", expiry),
    ]

    static func with(_ factory: CacheFactory, _ body: (CacheHarness) async throws -> Void) async throws {
        let harness = try await factory()
        do {
            try await body(harness)
        } catch {
            await harness.teardown()
            throw error
        }
        await harness.teardown()
    }

    static func setGetDelete(_ factory: CacheFactory) async throws {
        try await with(factory) { harness in
            let key = CacheKey.conversationList(UserID(uniqueName("ann"))!)
            let other = CacheKey.conversationList(UserID(uniqueName("bob"))!)
            try checkEqual(try await harness.cache.get(key), nil, "a miss")
            let bytes: [UInt8] = Array("{\"x\":[1,2,3]}".utf8) + [0, 255]
            try await harness.cache.set(key, bytes, ttl: .seconds(60))
            try await harness.cache.set(other, [1], ttl: .seconds(60))
            try checkEqual(try await harness.cache.get(key), bytes, "bytes intact")
            try await harness.cache.set(key, [7], ttl: .seconds(60))
            try checkEqual(try await harness.cache.get(key), [7], "overwritten")
            try await harness.cache.delete([key])
            try checkEqual(try await harness.cache.get(key), nil, "deleted")
            try checkEqual(try await harness.cache.get(other), [1], "others untouched")
        }
    }

    static func expiry(_ factory: CacheFactory) async throws {
        try await with(factory) { harness in
            let key = CacheKey.conversationList(UserID(uniqueName("cat"))!)
            try await harness.cache.set(key, [1, 2], ttl: .seconds(1))
            try checkEqual(try await harness.cache.get(key), [1, 2])
            try await harness.advance(.milliseconds(1100))
            try await eventually("expiry") { try await harness.cache.get(key) == nil }
        }
    }
}

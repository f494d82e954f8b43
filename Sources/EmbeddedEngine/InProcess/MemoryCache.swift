import ChatCore

/// The embedded ``Cache``: values with expiry times in memory, on an injected clock. At most
/// `maxEntries` values; storing one more evicts the entry closest to expiry.
public actor MemoryCache: Cache {
    private let clock: any WallClock
    private let maxEntries: Int
    private var values: [CacheKey: (bytes: [UInt8], expiresAt: Timestamp)] = [:]

    public init(clock: any WallClock, maxEntries: Int = 100_000) {
        self.clock = clock
        self.maxEntries = maxEntries
    }

    public func get(_ key: CacheKey) -> [UInt8]? {
        guard let entry = values[key] else { return nil }
        guard entry.expiresAt > clock.now() else {
            values[key] = nil
            return nil
        }
        return entry.bytes
    }

    public func set(_ key: CacheKey, _ value: [UInt8], ttl: Duration) {
        if values[key] == nil, values.count >= maxEntries,
            let victim = values.min(by: { $0.value.expiresAt < $1.value.expiresAt })?.key
        {
            values[victim] = nil
        }
        values[key] = (value, clock.now().advanced(by: ttl))
    }

    public func delete(_ keys: [CacheKey]) {
        for key in keys { values[key] = nil }
    }
}

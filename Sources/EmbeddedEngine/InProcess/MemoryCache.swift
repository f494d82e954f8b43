import ChatCore

/// The embedded ``Cache``: values with expiry times in memory, on an injected clock.
///
/// Tickets are readings of one counter that every invalidation advances; a key remembers the counter
/// at its last invalidation, so a fill whose ticket is older than that is refused. At most
/// `maxEntries` values (storing one more evicts the entry closest to expiry) and at most `maxEntries`
/// remembered invalidations (past that they are all forgotten at once, and every ticket issued
/// before is refused: a few extra misses, never a stale value). A value's dependencies are kept with
/// it and checked on every read: one invalidated after its ticket makes the read a miss.
public actor MemoryCache: Cache {
    private let clock: any WallClock
    private let maxEntries: Int
    private var values: [CacheKey: (bytes: [UInt8], expiresAt: Timestamp, dependencies: [CacheDependency])] = [:]
    private var invalidatedAt: [CacheKey: Int64] = [:]
    private var counter: Int64 = 0
    /// Tickets below this were issued before invalidations that are no longer remembered.
    private var oldestValidTicket: Int64 = 0

    public init(clock: any WallClock, maxEntries: Int = 100_000) {
        self.clock = clock
        self.maxEntries = max(1, maxEntries)
    }

    public func read(_ key: CacheKey) -> CacheRead {
        CacheRead(value: value(key), ticket: CacheTicket(generation: counter))
    }

    public func tickets(_ keys: [CacheKey]) -> [CacheTicket] {
        keys.map { _ in CacheTicket(generation: counter) }
    }

    public func fill(_ key: CacheKey, _ value: [UInt8], ttl: Duration, ticket: CacheTicket, dependencies: [CacheDependency]) -> Bool {
        guard current(key, ticket) else { return false }
        if values[key] == nil, values.count >= maxEntries,
            let victim = values.min(by: { $0.value.expiresAt < $1.value.expiresAt })?.key
        {
            values[victim] = nil
        }
        values[key] = (value, clock.now().advanced(by: ttl), dependencies)
        return true
    }

    public func invalidate(_ keys: [CacheKey]) {
        for key in keys {
            counter += 1
            values[key] = nil
            invalidatedAt[key] = counter
        }
        if invalidatedAt.count > maxEntries {
            invalidatedAt.removeAll(keepingCapacity: true)
            oldestValidTicket = counter
        }
    }

    private func value(_ key: CacheKey) -> [UInt8]? {
        guard let entry = values[key] else { return nil }
        guard entry.expiresAt > clock.now(), entry.dependencies.allSatisfy({ current($0.key, $0.ticket) }) else {
            values[key] = nil
            return nil
        }
        return entry.bytes
    }

    /// True when `key` was not invalidated after `ticket` was issued (as far as the cache remembers).
    private func current(_ key: CacheKey, _ ticket: CacheTicket) -> Bool {
        ticket.generation >= oldestValidTicket && ticket.generation >= invalidatedAt[key] ?? 0
    }
}

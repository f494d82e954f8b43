import ChatCore

/// A ``Cache`` that counts hits, misses, refused fills and errors by key kind, then passes each call on
/// unchanged.
public struct MeteredCache: Cache {
    let base: any Cache
    let metrics: NodeMetrics

    public init(_ base: any Cache, metrics: NodeMetrics) {
        self.base = base
        self.metrics = metrics
    }

    public func read(_ key: CacheKey) async throws -> CacheRead {
        do {
            let read = try await base.read(key)
            metrics.cache(key, read.value == nil ? .miss : .hit)
            return read
        } catch {
            metrics.cache(key, .error)
            throw error
        }
    }

    public func tickets(_ keys: [CacheKey]) async throws -> [CacheTicket] {
        try await base.tickets(keys)
    }

    public func fill(_ key: CacheKey, _ value: [UInt8], ttl: Duration, ticket: CacheTicket, dependencies: [CacheDependency]) async throws
        -> Bool
    {
        let stored = try await base.fill(key, value, ttl: ttl, ticket: ticket, dependencies: dependencies)
        if !stored { metrics.cache(key, .refused) }
        return stored
    }

    public func invalidate(_ keys: [CacheKey]) async throws {
        try await base.invalidate(keys)
    }
}

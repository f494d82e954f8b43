/// What the node caches. Each key names one value; keys are hash-tagged per user or conversation.
public enum CacheKey: Hashable, Sendable {
    /// The first page of a user's conversation list (default page size, all workspaces).
    case conversationList(UserID)

    /// The key under `prefix`, e.g. `sb:list:{alice}`.
    public func name(prefix: String) -> String {
        switch self {
        case .conversationList(let user): "\(prefix):list:{\(user.rawValue)}"
        }
    }
}

/// A cache of encoded values with TTLs. Never the source of truth: a miss, an expiry or an outage
/// only costs a store read, so callers treat cache errors as misses.
///
/// Contract: `get` returns what the last `set` stored until its TTL passes or `delete` removes it.
public protocol Cache: Sendable {
    func get(_ key: CacheKey) async throws -> [UInt8]?
    func set(_ key: CacheKey, _ value: [UInt8], ttl: Duration) async throws
    func delete(_ keys: [CacheKey]) async throws
}

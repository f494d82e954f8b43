/// What the node caches. Each key names one value; keys are hash-tagged per user or conversation.
public enum CacheKey: Hashable, Sendable {
    /// The first page of a user's conversation list (default page size, all workspaces).
    case conversationList(UserID)
    /// A conversation's activity: its last seq, last activity time and newest post (the preview).
    /// Its invalidation also stands for any change to what a conversation list shows of the
    /// conversation (participants, watermarks, title, closing): lists depend on it (see
    /// ``CacheDependency``), so a post invalidates one key however many people take part.
    case conversationActivity(ConversationID)

    /// What kind of value a key names (a metrics label).
    public enum Kind: String, CaseIterable, Sendable {
        case list, activity
    }

    public var kind: Kind {
        switch self {
        case .conversationList: .list
        case .conversationActivity: .activity
        }
    }

    /// The key under `prefix`, e.g. `sb:list:{alice}`.
    public func name(prefix: String) -> String {
        switch self {
        case .conversationList(let user): "\(prefix):list:{\(user.rawValue)}"
        case .conversationActivity(let conversation): "\(prefix):activity:{\(conversation.rawValue)}"
        }
    }
}

/// Proof of when a ``Cache/read(_:)`` looked at a key: a ``Cache/fill(_:_:ttl:ticket:)`` with it stores
/// its value only when no ``Cache/invalidate(_:)`` of that key came in between. Opaque to callers.
public struct CacheTicket: Sendable, Hashable {
    public let generation: Int64
    public init(generation: Int64) { self.generation = generation }
}

/// What a ``Cache/read(_:)`` found: the value, when there is one, and the ticket to fill it with on a miss.
public struct CacheRead: Sendable, Hashable {
    public var value: [UInt8]?
    public var ticket: CacheTicket
    public init(value: [UInt8]?, ticket: CacheTicket) {
        self.value = value
        self.ticket = ticket
    }
}

/// Another key a cached value was computed from, with the ticket read for it before the store read:
/// the value reads back only while that key has not been invalidated since.
public struct CacheDependency: Sendable, Hashable {
    public var key: CacheKey
    public var ticket: CacheTicket
    public init(key: CacheKey, ticket: CacheTicket) {
        self.key = key
        self.ticket = ticket
    }
}

/// A cache of encoded values with TTLs. Never the source of truth: a miss, an expiry or an outage
/// only costs a store read, so callers treat cache errors as misses.
///
/// The usage, which keeps a cached value from ever being older than the last write that affected it:
/// a reader calls `read`; on a miss it reads the store and calls `fill` with the ticket it got; a
/// writer changes the store first and then calls `invalidate`. A value computed from several things
/// (a user's list shows each of their conversations) names the keys of those things as dependencies:
/// the reader takes their ``tickets(_:)`` before reading the store, and a writer invalidates only the
/// key of what it changed, so a write costs the same however many values depend on it.
///
/// Contract:
/// - `read` returns what the last successful `fill` stored until its TTL passes or `invalidate` removes it.
/// - `fill` stores nothing and returns false when the key was invalidated after the `read` that
///   issued the ticket (a reader that read the store before a write cannot put back the old value).
///   It may also refuse in other cases (an implementation that forgot a key's history refuses rather
///   than risk a stale value); it never stores a value a later invalidation should have removed.
/// - A value filled with dependencies reads as a miss once any of them was invalidated after its
///   ticket was taken (for as long as the value lives: an implementation keeps what it needs to tell).
/// - `invalidate` of several keys acts on each key; keys may live on different servers.
public protocol Cache: Sendable {
    func read(_ key: CacheKey) async throws -> CacheRead
    /// Tickets for `keys` as they are now, in the same order: to name them as dependencies of a fill.
    func tickets(_ keys: [CacheKey]) async throws -> [CacheTicket]
    @discardableResult
    func fill(_ key: CacheKey, _ value: [UInt8], ttl: Duration, ticket: CacheTicket, dependencies: [CacheDependency]) async throws -> Bool
    func invalidate(_ keys: [CacheKey]) async throws
}

extension Cache {
    /// A fill that depends on nothing but its own key.
    @discardableResult
    public func fill(_ key: CacheKey, _ value: [UInt8], ttl: Duration, ticket: CacheTicket) async throws -> Bool {
        try await fill(key, value, ttl: ttl, ticket: ticket, dependencies: [])
    }
}

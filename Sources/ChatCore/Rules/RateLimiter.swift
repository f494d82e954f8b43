import Synchronization

/// Rate limits in one process: one ``TokenBucket`` per key that was used recently. The chat service
/// throttles typing signals per user and conversation with one (a bucket of one token refilled once
/// per `typing.throttle.ms`); the embedded engine's ``RateLimit`` is another.
///
/// Guarantees: memory is bounded by `capacity` buckets; full buckets (keys quiet long enough) are
/// forgotten first, which changes nothing; if every bucket is in use, a new key is let through
/// without one (fail open: the limit protects the node, it never loses a message).
public final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    private let buckets: Mutex<BoundedTable<Key, TokenBucket>>
    private let perSecond: Double
    private let burst: Int

    public init(perSecond: Double, burst: Int, capacity: Int = 100_000) {
        self.perSecond = perSecond
        self.burst = burst
        self.buckets = Mutex(BoundedTable(capacity: capacity))
    }

    /// At most one take per `interval`.
    public convenience init(oncePer interval: Duration, capacity: Int = 100_000) {
        self.init(perSecond: 1000 / Double(max(interval.wholeMilliseconds, 1)), burst: 1, capacity: capacity)
    }

    /// True when `key` may take one more token at `now`.
    public func allow(_ key: Key, now: Timestamp) -> Bool { take(key, upTo: 1, now: now) == 1 }

    /// Takes up to `count` tokens of `key`'s bucket at `now`; how many (0 when it is empty). With the
    /// table full of buckets that are not full, a new key is let through, `count` at once.
    public func take(_ key: Key, upTo count: Int, now: Timestamp) -> Int {
        buckets.withLock { buckets in
            guard buckets.makeRoom(for: key, droppingWhere: { $0.isFull(now: now) }) else { return max(count, 1) }
            var bucket = buckets[key] ?? TokenBucket(perSecond: perSecond, burst: burst, now: now)
            let taken = bucket.take(upTo: count, now: now)
            buckets[key] = bucket
            return taken
        }
    }
}

/// Who typed where: the key of the typing limiter.
public struct TypingKey: Hashable, Sendable {
    public var user: UserID
    public var conversation: ConversationID
    public init(user: UserID, conversation: ConversationID) {
        self.user = user
        self.conversation = conversation
    }
}

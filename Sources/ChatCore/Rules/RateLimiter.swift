import Synchronization

/// Rate limits in one process: one ``TokenBucket`` per key that was used recently. The chat service
/// throttles typing signals per user and conversation with one (a bucket of one token refilled once
/// per `typing.throttle.ms`); the embedded engine's ``RateLimit`` is another.
///
/// Guarantees: memory is bounded by `capacity` buckets; full buckets (keys quiet long enough) are
/// forgotten first, which changes nothing; if every bucket is in use, a new key is let through
/// without one (fail open: the limit protects the node, it never loses a message).
public final class RateLimiter<Key: Hashable & Sendable>: Sendable {
    private let buckets = Mutex<[Key: TokenBucket]>([:])
    private let perSecond: Double
    private let burst: Int
    private let capacity: Int

    public init(perSecond: Double, burst: Int, capacity: Int = 100_000) {
        self.perSecond = perSecond
        self.burst = burst
        self.capacity = max(capacity, 1)
    }

    /// At most one take per `interval`.
    public convenience init(oncePer interval: Duration, capacity: Int = 100_000) {
        self.init(perSecond: 1000 / Double(max(interval.wholeMilliseconds, 1)), burst: 1, capacity: capacity)
    }

    /// True when `key` may take one more token at `now`.
    public func allow(_ key: Key, now: Timestamp) -> Bool {
        buckets.withLock { buckets in
            if buckets[key] == nil, buckets.count >= capacity {
                buckets = buckets.filter { !$0.value.isFull(now: now) }
                if buckets.count >= capacity { return true }
            }
            var bucket = buckets[key] ?? TokenBucket(perSecond: perSecond, burst: burst, now: now)
            let allowed = bucket.take(now: now)
            buckets[key] = bucket
            return allowed
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

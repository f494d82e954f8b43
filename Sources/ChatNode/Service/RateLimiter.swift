import ChatCore
import Synchronization

/// Messages per second per user on this node: one ``TokenBucket`` per user who sent recently.
///
/// Guarantees: memory is bounded by `capacity` buckets; full buckets (users who have been quiet long
/// enough) are forgotten first, which changes nothing; if every bucket is in use, a new user is let
/// through without one (fail open: the limit protects the node, it never loses a message). Shared
/// across nodes by the Redis engine's limiter (a later issue); here it is per node.
public final class RateLimiter: Sendable {
    private let buckets = Mutex<[UserID: TokenBucket]>([:])
    private let perSecond: Double
    private let burst: Int
    private let capacity: Int

    public init(perSecond: Double, burst: Int, capacity: Int = 100_000) {
        self.perSecond = perSecond
        self.burst = burst
        self.capacity = max(capacity, 1)
    }

    /// True when `user` may send one more message at `now`.
    public func allow(_ user: UserID, now: Timestamp) -> Bool {
        buckets.withLock { buckets in
            if buckets[user] == nil, buckets.count >= capacity {
                buckets = buckets.filter { !$0.value.isFull(now: now) }
                if buckets.count >= capacity { return true }
            }
            var bucket = buckets[user] ?? TokenBucket(perSecond: perSecond, burst: burst, now: now)
            let allowed = bucket.take(now: now)
            buckets[user] = bucket
            return allowed
        }
    }
}

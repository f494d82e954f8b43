import ChatCore
import Synchronization

/// The embedded engine's ``RateLimit``: token buckets in this process (one node has every client).
public struct MemoryRateLimit: RateLimit {
    private let limiters = RateLimiterTable()
    private let clock: any WallClock

    public init(clock: any WallClock) { self.clock = clock }

    public func take(_ key: RateLimitKey, rule: RateLimitRule, upTo count: Int) async throws -> Int {
        limiters.limiter(for: rule).take(key, upTo: count, now: clock.now())
    }
}

/// One limiter per rule (a node uses one or two rules).
final class RateLimiterTable: Sendable {
    private let limiters = Mutex<[RateLimitRule: RateLimiter<RateLimitKey>]>([:])

    func limiter(for rule: RateLimitRule) -> RateLimiter<RateLimitKey> {
        limiters.withLock { limiters in
            if let limiter = limiters[rule] { return limiter }
            let limiter = RateLimiter<RateLimitKey>(perSecond: rule.perSecond, burst: rule.burst)
            limiters[rule] = limiter
            return limiter
        }
    }
}

import ChatCore
import ChatNode
import ChatTesting
import EmbeddedEngine
import Synchronization
import Testing

/// ``LeasedRateLimit``: a node spends leased tokens locally, never more than the shared bucket gave,
/// and a lease holds back little, briefly.
@Suite struct LeasedRateLimitTests {
    /// A shared bucket that counts the takes that reach it.
    final class Counted: RateLimit {
        let bucket: any RateLimit
        let calls = Atomic<Int>(0)
        init(_ bucket: any RateLimit) { self.bucket = bucket }
        func take(_ key: RateLimitKey, rule: RateLimitRule, upTo count: Int) async throws -> Int {
            calls.add(1, ordering: .relaxed)
            return try await bucket.take(key, rule: rule, upTo: count)
        }
    }

    static let key = RateLimitKey.messages(UserID("ann")!)

    static func takes(_ count: Int, _ limiter: any RateLimit, _ rule: RateLimitRule) async throws -> Int {
        var allowed = 0
        for _ in 0..<count where try await limiter.take(key, rule: rule) { allowed += 1 }
        return allowed
    }

    @Test func aLeaseServesLaterTakesLocallyAndTheBucketIsNeverExceeded() async throws {
        let clock = ManualClock()
        let shared = Counted(MemoryRateLimit(clock: clock))
        let node = LeasedRateLimit(shared, lease: 8, lifetime: .seconds(1), clock: clock)
        // A token every 20 s: the burst is all there is.
        let rule = RateLimitRule(perSecond: 0.05, burst: 64)
        #expect(try await Self.takes(70, node, rule) == 64, "the burst, and not one more")
        #expect(shared.calls.load(ordering: .relaxed) == 64 / 8 + 6, "eight leases of eight, then each refusal asks")
    }

    @Test func twoNodesShareTheBucketAndALeaseHoldsBackAnEighthOfTheBurstAtMost() async throws {
        let clock = ManualClock()
        let shared = Counted(MemoryRateLimit(clock: clock))
        let a = LeasedRateLimit(shared, lease: 8, lifetime: .seconds(1), clock: clock)
        let b = LeasedRateLimit(shared, lease: 8, lifetime: .seconds(1), clock: clock)
        let rule = RateLimitRule(perSecond: 0.05, burst: 16)
        #expect(try await Self.takes(1, a, rule) == 1, "node a took a lease of two (16 / 8), spent one")
        #expect(try await Self.takes(20, b, rule) == 14, "node b gets the rest of the bucket, less a's lease")
        #expect(try await Self.takes(2, a, rule) == 1, "a spends what it held, then the bucket is empty")
        #expect(a.held == 0 && b.held == 0)
    }

    @Test func aLeaseLapsesAfterItsLifetime() async throws {
        let clock = ManualClock()
        let shared = Counted(MemoryRateLimit(clock: clock))
        let node = LeasedRateLimit(shared, lease: 4, lifetime: .seconds(1), clock: clock)
        let rule = RateLimitRule(perSecond: 0.05, burst: 32)
        #expect(try await Self.takes(1, node, rule) == 1)
        #expect(node.held == 1 && shared.calls.load(ordering: .relaxed) == 1, "three tokens held")
        clock.advance(by: .seconds(1))
        #expect(try await Self.takes(1, node, rule) == 1)
        #expect(shared.calls.load(ordering: .relaxed) == 2, "the lapsed lease was not spent: the take asked the bucket")
        #expect(try await Self.takes(100, node, rule) == 32 - 2 - 3, "the bucket, less the two spent and the three that lapsed")
    }

    @Test func aLeaseOfOneAsksTheBucketEveryTime() async throws {
        let clock = ManualClock()
        let shared = Counted(MemoryRateLimit(clock: clock))
        let node = LeasedRateLimit(shared, lease: 1, lifetime: .seconds(1), clock: clock)
        #expect(try await Self.takes(5, node, RateLimitRule(perSecond: 0.05, burst: 64)) == 5)
        #expect(shared.calls.load(ordering: .relaxed) == 5 && node.held == 0)
    }
}

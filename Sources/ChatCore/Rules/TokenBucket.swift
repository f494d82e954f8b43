/// A token bucket: `burst` tokens at most, refilled at `perSecond`. A pure value on an injected time.
///
/// Guarantees: over any interval of length t, at most `burst + perSecond * t` takes succeed; a take
/// that fails consumes nothing.
public struct TokenBucket: Sendable, Hashable {
    public let perSecond: Double
    public let burst: Double
    private var tokens: Double
    private var updatedAt: Timestamp

    public init(perSecond: Double, burst: Int, now: Timestamp) {
        self.perSecond = max(perSecond, 0)
        self.burst = Double(max(burst, 1))
        self.tokens = self.burst
        self.updatedAt = now
    }

    /// Takes one token at `now`; false when the bucket is empty.
    public mutating func take(now: Timestamp) -> Bool { take(upTo: 1, now: now) == 1 }

    /// Takes up to `count` whole tokens at `now`: what the bucket holds, at most `count`; 0 when empty.
    public mutating func take(upTo count: Int, now: Timestamp) -> Int {
        refill(now)
        let taken = min(max(count, 1), Int(tokens.rounded(.down)))
        guard taken > 0 else { return 0 }
        tokens -= Double(taken)
        return taken
    }

    /// True when, at `now`, the bucket would be full again (it can be forgotten without changing anything).
    public func isFull(now: Timestamp) -> Bool {
        var copy = self
        copy.refill(now)
        return copy.tokens >= burst
    }

    private mutating func refill(_ now: Timestamp) {
        let elapsed = Double(max(0, now.milliseconds - updatedAt.milliseconds)) / 1000
        tokens = min(burst, tokens + elapsed * perSecond)
        updatedAt = now
    }
}

/// Exponential backoff with jitter, as a value: after attempt n (0-based) fails, the next waits
/// `ceiling × (1 − jitter + jitter × u)` for a random u in [0, 1), where ceiling = min(cap, base ×
/// factor^n); jitter 1 is full jitter (anywhere in [0, ceiling]), 0 none. After `maxAttempts` the job
/// is given up (dead-lettered).
public struct RetryPolicy: Sendable, Hashable {
    public var base: Duration
    public var factor: Double
    public var cap: Duration
    public var maxAttempts: Int
    public var jitter: Double

    public init(
        base: Duration = .milliseconds(500), factor: Double = 2, cap: Duration = .seconds(300), maxAttempts: Int = 8, jitter: Double = 1
    ) {
        self.base = base
        self.factor = factor
        self.cap = cap
        self.maxAttempts = maxAttempts
        self.jitter = jitter
    }

    /// The delay before the next attempt after `attempt` (0-based) failed, or nil when no attempt is
    /// left. `unit` is a random number in [0, 1) supplied by the caller (injected for tests).
    public func delay(afterAttempt attempt: Int, unit: Double) -> Duration? {
        guard attempt + 1 < maxAttempts else { return nil }
        let ceiling = min(Double(cap.wholeMilliseconds), Double(base.wholeMilliseconds) * pow(factor, Double(attempt)))
        let spread = min(max(jitter, 0), 1)
        return .milliseconds(Int64(ceiling * (1 - spread + spread * min(max(unit, 0), 1))))
    }

    private func pow(_ x: Double, _ y: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(y) { result *= x }
        return result
    }
}

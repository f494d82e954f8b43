import ChatCore

/// Two limiters on one fresh backend (two nodes), and a way to move its time forward by at least a duration.
public struct RateLimitHarness: ConformanceHarness {
    public let limiters: [any RateLimit]
    public let advance: @Sendable (Duration) async throws -> Void
    public let teardown: @Sendable () async -> Void
    public init(
        limiters: [any RateLimit], advance: @escaping @Sendable (Duration) async throws -> Void, teardown: @escaping @Sendable () async -> Void
    ) {
        self.limiters = limiters
        self.advance = advance
        self.teardown = teardown
    }
}

public typealias RateLimitFactory = @Sendable () async throws -> RateLimitHarness

/// The ``RateLimit`` contract as checks.
public enum RateLimitConformance {
    public static let checks: [ConformanceCheck<RateLimitFactory>] = [
        .init("a burst goes through, the next take is refused, time refills", burstThenRefill),
        .init("keys are independent", independentKeys),
        .init("every limiter on one backend shares the bucket", shared),
        .init("a take of up to n takes what the bucket holds, at most n", takeUpTo),
    ]

    static func with(_ factory: RateLimitFactory, _ body: (RateLimitHarness) async throws -> Void) async throws {
        try await using(try await factory()) { try await body($0) }
    }

    /// The outcome of `count` takes in a row.
    static func takes(_ count: Int, _ limiter: any RateLimit, _ key: RateLimitKey, _ rule: RateLimitRule) async throws -> [Bool] {
        var outcomes: [Bool] = []
        for _ in 0..<count { outcomes.append(try await limiter.take(key, rule: rule)) }
        return outcomes
    }

    static func burstThenRefill(_ factory: RateLimitFactory) async throws {
        try await with(factory) { harness in
            let limiter = harness.limiters[0]
            let key = RateLimitKey.messages(UserID(uniqueName("ann"))!)
            // A token every 4 s, so engines on real time (Redis) keep a wide margin: the check below holds
            // unless the machine stalls for over 3.5 s between the two groups of takes.
            let rule = RateLimitRule(perSecond: 0.25, burst: 3)
            // The fifth take also proves the refused fourth consumed nothing that a refill would have to repay.
            try checkEqual(try await takes(5, limiter, key, rule), [true, true, true, false, false], "the burst, then refusals")
            try await harness.advance(.milliseconds(4400))
            try checkEqual(try await takes(2, limiter, key, rule), [true, false], "one token back after four seconds, and only one")
        }
    }

    static func independentKeys(_ factory: RateLimitFactory) async throws {
        try await with(factory) { harness in
            let limiter = harness.limiters[0]
            // A token every 20 s: back-to-back takes stay back to back on real time, however loaded the machine.
            let rule = RateLimitRule(perSecond: 0.05, burst: 1)
            let ann = RateLimitKey.messages(UserID(uniqueName("ann"))!), bob = RateLimitKey.messages(UserID(uniqueName("bob"))!)
            try checkEqual(try await takes(2, limiter, ann, rule), [true, false])
            try checkEqual(try await takes(1, limiter, bob, rule), [true], "another key has its own bucket")
        }
    }

    static func shared(_ factory: RateLimitFactory) async throws {
        try await with(factory) { harness in
            let key = RateLimitKey.messages(UserID(uniqueName("cat"))!)
            let rule = RateLimitRule(perSecond: 0.05, burst: 2)
            try checkEqual(try await takes(1, harness.limiters[0], key, rule), [true])
            try checkEqual(try await takes(1, harness.limiters[1], key, rule), [true])
            try checkEqual(try await takes(1, harness.limiters[0], key, rule), [false], "the other node spent the rest")
            try checkEqual(try await takes(1, harness.limiters[1], key, rule), [false])
        }
    }

    static func takeUpTo(_ factory: RateLimitFactory) async throws {
        try await with(factory) { harness in
            let limiter = harness.limiters[0]
            let key = RateLimitKey.messages(UserID(uniqueName("dan"))!)
            let rule = RateLimitRule(perSecond: 0.05, burst: 5)
            var taken: [Int] = []
            for _ in 0..<3 { taken.append(try await limiter.take(key, rule: rule, upTo: 3)) }
            try checkEqual(taken, [3, 2, 0], "three, then the two left, then none")
            try checkEqual(try await takes(1, harness.limiters[1], key, rule), [false], "nothing left for the other node either")
        }
    }
}

/// What a rate limit counts, per key. Key names are hash-tagged per user.
public enum RateLimitKey: Hashable, Sendable {
    /// Messages (posts, edits, deletions, reactions) of one user, on every node together.
    case messages(UserID)

    /// The key under `prefix`, e.g. `sb:rl:m:{alice}`.
    public func name(prefix: String) -> String {
        switch self {
        case .messages(let user): "\(prefix):rl:m:{\(user.rawValue)}"
        }
    }
}

/// How fast a key may go: a token bucket of `burst` tokens refilled at `perSecond`.
public struct RateLimitRule: Sendable, Hashable {
    public var perSecond: Double
    public var burst: Int
    public init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = burst
    }
}

/// Token buckets shared by every node on the same backend, so a user's limit holds wherever they connect.
///
/// Contract: a key not used for a while allows `burst` takes at once, then about `perSecond` takes per
/// second; a refused take consumes nothing; keys are independent; every instance on one backend sees
/// the same buckets. A take of up to `count` tokens takes what the bucket holds, at most `count`
/// (whole tokens), and takes nothing from an empty one.
public protocol RateLimit: Sendable {
    /// Takes up to `count` (at least 1) tokens from `key`'s bucket at once; returns how many, 0 when it
    /// is empty.
    func take(_ key: RateLimitKey, rule: RateLimitRule, upTo count: Int) async throws -> Int
}

extension RateLimit {
    /// Takes one token from `key`'s bucket; false when it is empty.
    public func take(_ key: RateLimitKey, rule: RateLimitRule) async throws -> Bool {
        try await take(key, rule: rule, upTo: 1) == 1
    }
}

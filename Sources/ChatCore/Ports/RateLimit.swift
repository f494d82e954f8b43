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
/// the same buckets.
public protocol RateLimit: Sendable {
    /// Takes one token from `key`'s bucket; false when it is empty.
    func take(_ key: RateLimitKey, rule: RateLimitRule) async throws -> Bool
}

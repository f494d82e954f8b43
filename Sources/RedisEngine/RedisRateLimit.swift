import ChatCore
import RedisClient

/// The ``RateLimit`` on Redis: one token bucket per key, updated by a Lua script on Redis's own clock,
/// so every node counts against the same bucket and node clocks do not matter. With a `clock` (tests),
/// each take carries that clock's time instead, so refills follow a clock the test drives.
public struct RedisRateLimit: RateLimit {
    static let script = RedisScript(String(decoding: PackageResources.rate_limit_lua, as: UTF8.self))
    private let client: any RedisCommands
    private let prefix: String
    private let clock: (any WallClock)?

    public init(client: any RedisCommands, prefix: String, clock: (any WallClock)? = nil) {
        self.client = client
        self.prefix = prefix
        self.clock = clock
    }

    public func take(_ key: RateLimitKey, rule: RateLimitRule, upTo count: Int) async throws -> Int {
        try await mappingRedisErrors {
            let reply = try await client.run(
                Self.script, keys: [RedisArgument(key.name(prefix: prefix))],
                arguments: [RedisArgument(String(rule.perSecond)), RedisArgument(rule.burst), RedisArgument(max(count, 1))]
                    + (clock.map { [RedisArgument($0.now().milliseconds)] } ?? []))
            guard case .integer(let taken) = reply else { throw RedisError.protocolViolation("the rate limit script answered \(reply)") }
            return Int(taken)
        }
    }
}

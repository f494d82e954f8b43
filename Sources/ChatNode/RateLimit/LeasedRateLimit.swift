import ChatCore
import Synchronization

/// A node's leases on the shared token buckets: when a user's bucket is asked for one token, the node
/// takes up to `lease` tokens at once and spends the rest locally, so most sends of a busy user cost
/// no round trip to the bucket's backend (one `EVALSHA` on Redis per `lease` messages instead of one
/// per message).
///
/// Guarantees: a user never gets more than the shared bucket allows on all nodes together: every token
/// spent was taken from the bucket first. A lease is never more than an eighth of the rule's burst, and
/// lapses `lifetime` after it was taken (its tokens are not spent then, nor returned), so what a lease
/// holds back from the user's other nodes is small and short: at most `burst / 8` tokens per node, for
/// at most `lifetime`. A take the lease cannot serve goes to the backend as before; with `lease` 1
/// every take does. At most `capacity` users hold a lease; when full, lapsed leases go first, then
/// all (a forgotten lease costs only the tokens it held).
public final class LeasedRateLimit: RateLimit {
    private struct Lease {
        var tokens: Int
        var until: Timestamp
    }

    private let backend: any RateLimit
    private let lease: Int
    private let lifetime: Duration
    private let clock: any WallClock
    private let leases: Mutex<BoundedTable<RateLimitKey, Lease>>

    public init(_ backend: any RateLimit, lease: Int, lifetime: Duration, clock: any WallClock, capacity: Int = 100_000) {
        self.backend = backend
        self.lease = max(lease, 1)
        self.lifetime = lifetime
        self.clock = clock
        self.leases = Mutex(BoundedTable(capacity: capacity))
    }

    public func take(_ key: RateLimitKey, rule: RateLimitRule, upTo count: Int) async throws -> Int {
        let count = max(count, 1)
        let now = clock.now()
        let local = leases.withLock { leases -> Int in
            guard var held = leases[key] else { return 0 }
            guard held.until > now else {
                leases[key] = nil
                return 0
            }
            let taken = min(count, held.tokens)
            held.tokens -= taken
            leases[key] = held.tokens > 0 ? held : nil
            return taken
        }
        if local > 0 { return local }
        let size = max(count, min(lease, max(rule.burst / 8, 1)))
        let granted = try await backend.take(key, rule: rule, upTo: size)
        let taken = min(count, granted)
        if granted > taken { keep(granted - taken, for: key, at: now) }
        return taken
    }

    /// Users holding a lease now.
    public var held: Int { leases.withLock { $0.count } }

    private func keep(_ tokens: Int, for key: RateLimitKey, at now: Timestamp) {
        leases.withLock { leases in
            if !leases.makeRoom(for: key, droppingWhere: { $0.until <= now }) { leases.removeAll() }
            // Two takes of one user that both found no lease both went to the backend: keep both.
            var held = leases[key].flatMap { $0.until > now ? $0 : nil } ?? Lease(tokens: 0, until: now.advanced(by: lifetime))
            held.tokens += tokens
            leases[key] = held
        }
    }
}

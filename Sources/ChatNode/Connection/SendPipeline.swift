import Synchronization

/// The sends one connection has in flight (`limits.sends.inflight` at most). The driver reads the next
/// frame once a send has its place in the store's line (``ChatStore/append(_:placed:)``), so its sends
/// are stored in the order it sent them while their commits overlap; any other request first waits
/// for every send in flight to end, so it sees them done, as if the connection ran one at a time.
///
/// Guarantees: at most `limit` sends in flight; one driver task waits on it at a time (the connection's
/// read loop), so one waiter is all it keeps; every started send releases its slot exactly once.
final class SendPipeline: Sendable {
    private enum Wanted { case slot, empty }

    private struct State {
        var inFlight = 0
        var waiter: (wanted: Wanted, continuation: CheckedContinuation<Void, Never>)?
    }

    let limit: Int
    private let state = Mutex(State())

    init(limit: Int) { self.limit = max(1, limit) }

    /// Takes a slot, waiting while `limit` sends are in flight.
    func acquire() async {
        await wait(for: .slot)
    }

    /// Waits until no send is in flight.
    func drained() async {
        await wait(for: .empty)
    }

    /// A send ended.
    func release() {
        let ready = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.inFlight -= 1
            guard let waiter = state.waiter, Self.satisfied(waiter.wanted, &state, limit: limit) else { return nil }
            state.waiter = nil
            return waiter.continuation
        }
        ready?.resume()
    }

    private func wait(for wanted: Wanted) async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if Self.satisfied(wanted, &state, limit: limit) { return true }
                state.waiter = (wanted, continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Whether `wanted` holds now; a slot is taken as it is granted.
    private static func satisfied(_ wanted: Wanted, _ state: inout State, limit: Int) -> Bool {
        switch wanted {
        case .empty: return state.inFlight == 0
        case .slot:
            guard state.inFlight < limit else { return false }
            state.inFlight += 1
            return true
        }
    }
}

/// Fires once, and lets one task wait for it (a send's place in line, or its end if it never got one).
final class OneShot: Sendable {
    private let state = Mutex<(fired: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func fire() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.fired else { return nil }
            state.fired = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.fired { return true }
                state.waiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }
}

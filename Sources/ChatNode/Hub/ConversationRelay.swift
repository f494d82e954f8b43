import ChatCore

/// Puts one conversation's message events in seq order, once, for one node. A pure state machine:
/// inputs in (`receive`, `start`), events to deliver out; the hub executes them.
///
/// Guarantees: every seq above the baseline is delivered at most once and in increasing order; an
/// event that arrives ahead of a missing seq is held (at most `maxPending`) until the gap fills or is
/// repaired from the store; events at or below the baseline are dropped as repeats.
struct ConversationRelay {
    enum Phase {
        /// Subscribed, baseline not yet read: hold everything.
        case starting
        /// Delivering; `next` is the seq expected next.
        case running(next: Seq)
    }

    private(set) var phase: Phase = .starting
    private var pending: [Seq: Envelope] = [:]
    /// When the oldest unfilled gap was first seen.
    private(set) var gapSince: Timestamp?
    /// Since when the store owes this relay a read that failed (after a join or a resync): events
    /// published meanwhile may be missing with nothing after them to reveal the gap.
    private(set) var unconfirmedSince: Timestamp?
    let maxPending: Int

    init(maxPending: Int) { self.maxPending = maxPending }

    /// The baseline is known: everything up to `lastSeq` was stored before this node started relaying.
    mutating func start(lastSeq: Seq, now: Timestamp) -> [Envelope] {
        if case .running = phase { return [] }
        phase = .running(next: lastSeq + 1)
        pending = pending.filter { $0.key > lastSeq }
        return drain(now: now)
    }

    /// An event arrived (from the broker, or from a repair read).
    mutating func receive(_ envelope: Envelope, now: Timestamp) -> [Envelope] {
        guard let seq = envelope.seq else { return [] }
        switch phase {
        case .starting:
            if pending.count < maxPending { pending[seq] = envelope }
            return []
        case .running(let next):
            guard seq >= next else { return [] }
            if pending.count < maxPending || seq == next { pending[seq] = envelope }
            return drain(now: now)
        }
    }

    /// A read from the store that should have followed failed: ``repairPoint(now:delay:)`` asks for
    /// one until ``confirmed()``.
    mutating func unconfirmed(now: Timestamp) {
        if unconfirmedSince == nil { unconfirmedSince = now }
    }

    /// A read from the store reached its end: nothing before it is missing any more.
    mutating func confirmed() { unconfirmedSince = nil }

    /// The seq after which to read from the store, when a gap (or a failed read) has waited longer
    /// than `delay` or the holding area is full; nil when nothing needs repair.
    func repairPoint(now: Timestamp, delay: Duration) -> Seq? {
        guard case .running(let next) = phase else { return nil }
        if let since = unconfirmedSince, since.advanced(by: delay) <= now { return next - 1 }
        guard let since = gapSince else { return nil }
        guard pending.count >= maxPending || since.advanced(by: delay) <= now else { return nil }
        return next - 1
    }

    /// The seq expected next, when running.
    var expected: Seq? {
        if case .running(let next) = phase { return next }
        return nil
    }

    private mutating func drain(now: Timestamp) -> [Envelope] {
        guard case .running(var next) = phase else { return [] }
        var ready: [Envelope] = []
        while let envelope = pending.removeValue(forKey: next) {
            ready.append(envelope)
            next += 1
        }
        phase = .running(next: next)
        if pending.isEmpty {
            gapSince = nil
        } else if gapSince == nil || !ready.isEmpty {
            gapSince = now
        }
        return ready
    }
}

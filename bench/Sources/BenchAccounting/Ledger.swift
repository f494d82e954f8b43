/// What one load run sent, what the nodes acknowledged and what every receiver was shown, and what
/// that adds up to: lost, duplicated, delivered. Pure: the harness feeds it events as they happen and
/// asks for a ``Tally`` at the end (or at any moment, for progress).
///
/// Guarantees:
/// - A message counts as **lost** for a receiver when the node acknowledged it (so it was stored) and
///   the receiver is a participant of its conversation, yet it was never shown to that receiver.
///   Messages that were never acknowledged are not expected anywhere: they may or may not arrive.
/// - **Duplicates shown** are entries handed to the application twice for one receiver (after the
///   client's dedupe by conversation and seq, this must stay 0); **wire duplicates** are repeats the
///   client saw on the socket and dropped (a resume or a redelivery may cause them; they are not errors).
/// - Memory per receiver and conversation is a watermark and the few seqs that arrived ahead of it,
///   since a conversation's entries arrive in order; the acknowledged seqs of a conversation are kept
///   once, however many receive them.
public struct Ledger: Sendable {
    /// Who receives: one connected device of one user (a user may have several).
    public struct Receiver: Hashable, Sendable {
        public var user: String
        public var device: Int
        public init(user: String, device: Int = 0) {
            self.user = user
            self.device = device
        }
    }

    /// One receiver's position in one conversation: every seq up to `watermark` was shown, and so was
    /// each seq in `ahead`.
    struct Position: Sendable {
        var watermark: Int64 = 0
        var ahead: Set<Int64> = []

        func has(_ seq: Int64) -> Bool { seq <= watermark || ahead.contains(seq) }

        /// Records `seq` as shown; false when it already was.
        mutating func show(_ seq: Int64) -> Bool {
            guard !has(seq) else { return false }
            if seq == watermark + 1 {
                watermark = seq
                while ahead.remove(watermark + 1) != nil { watermark += 1 }
            } else {
                ahead.insert(seq)
            }
            return true
        }
    }

    /// The participants expected to receive each conversation's messages.
    private var members: [String: Set<Receiver>] = [:]
    /// Acknowledged seqs per conversation (the store's numbering; stored, so expected everywhere).
    private var acknowledged: [String: Set<Int64>] = [:]
    /// Each (conversation, receiver)'s position: one flat table, so a delivery costs one lookup, made
    /// in place (a nested dictionary copied its inner table on every update).
    private var positions: [Slot: Position] = [:]

    struct Slot: Hashable, Sendable {
        var conversation: String
        var receiver: Receiver
    }
    /// The running counts, cheap to read at any moment; `expected` and `lost` are filled in only by
    /// ``tally()``.
    public private(set) var counts = Tally()

    public init() {}

    /// `receivers` take part in `conversation` from now on: they are expected to be shown every
    /// acknowledged message of it.
    public mutating func join(_ receivers: [Receiver], to conversation: String) {
        members[conversation, default: []].formUnion(receivers)
    }

    /// A send left the harness.
    public mutating func sent() { counts.sent += 1 }

    /// The node acknowledged a send: it is stored as `seq` of `conversation`. A retried send that the
    /// node recognised (the same seq again) counts once.
    public mutating func acknowledged(_ seq: Int64, in conversation: String) {
        if acknowledged[conversation, default: []].insert(seq).inserted { counts.acknowledged += 1 }
    }

    /// A send was refused or timed out; `code` is the error code (or `timeout`).
    public mutating func failed(_ code: String) { counts.errors[code, default: 0] += 1 }

    /// `receiver` read `seq` of `conversation` off its socket. Returns whether to show it to the
    /// application: false for a repeat, which is counted as a wire duplicate (the client's dedupe).
    public mutating func received(_ seq: Int64, in conversation: String, by receiver: Receiver) -> Bool {
        let new = !(positions[Slot(conversation: conversation, receiver: receiver)]?.has(seq) ?? false)
        if !new { counts.wireDuplicates += 1 }
        return new
    }

    /// The application was shown `seq` of `conversation` on `receiver`. Showing it again is a
    /// duplicate shown (what the client's dedupe exists to prevent).
    public mutating func shown(_ seq: Int64, in conversation: String, to receiver: Receiver) {
        if positions[Slot(conversation: conversation, receiver: receiver), default: Position()].show(seq) {
            counts.delivered += 1
        } else {
            counts.duplicatesShown += 1
        }
    }

    /// What a deduplicating client does with `seq` read off `receiver`'s socket, in one lookup:
    /// ``received(_:in:by:)`` and, when it is new, ``shown(_:in:to:)``. Returns whether it was shown.
    public mutating func deliver(_ seq: Int64, in conversation: String, to receiver: Receiver) -> Bool {
        let shown = positions[Slot(conversation: conversation, receiver: receiver), default: Position()].show(seq)
        if shown { counts.delivered += 1 } else { counts.wireDuplicates += 1 }
        return shown
    }

    /// A receiver reconnected (a fault, churn, or a drain's advisory).
    public mutating func reconnected() { counts.reconnects += 1 }

    /// What the run adds up to now: `expected` and `lost` count every (acknowledged message, member)
    /// pair of the conversations joined.
    public func tally() -> Tally {
        var tally = counts
        tally.expected = 0
        tally.lost = 0
        for (conversation, seqs) in acknowledged {
            let receivers = members[conversation] ?? []
            tally.expected += seqs.count * receivers.count
            for receiver in receivers {
                let position = positions[Slot(conversation: conversation, receiver: receiver)] ?? Position()
                tally.lost += seqs.lazy.filter { !position.has($0) }.count
            }
        }
        return tally
    }
}

extension Ledger {
    /// One acknowledged message a member was never shown.
    public struct Missing: Sendable, Equatable, Codable {
        public var conversation: String
        public var seq: Int64
        public var user: String
        public var device: Int
    }

    /// Up to `limit` of the lost deliveries, for finding out why.
    public func missing(limit: Int) -> [Missing] {
        var result: [Missing] = []
        for (conversation, seqs) in acknowledged.sorted(by: { $0.key < $1.key }) {
            for receiver in (members[conversation] ?? []).sorted(by: { ($0.user, $0.device) < ($1.user, $1.device) }) {
                let position = positions[Slot(conversation: conversation, receiver: receiver)] ?? Position()
                for seq in seqs.sorted() where !position.has(seq) {
                    result.append(Missing(conversation: conversation, seq: seq, user: receiver.user, device: receiver.device))
                    if result.count >= limit { return result }
                }
            }
        }
        return result
    }
}

/// The counts of a run (or of a run so far).
public struct Tally: Sendable, Equatable, Codable {
    public var sent = 0
    public var acknowledged = 0
    /// Distinct (message, receiver) pairs shown to the application.
    public var delivered = 0
    /// (acknowledged message, member) pairs: what should be delivered.
    public var expected = 0
    /// Expected pairs never shown.
    public var lost = 0
    public var duplicatesShown = 0
    public var wireDuplicates = 0
    public var reconnects = 0
    /// Failed sends by error code (`timeout` when no reply came).
    public var errors: [String: Int] = [:]

    public init() {}
}

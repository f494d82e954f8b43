import ChatCore
import NIOCore
import Synchronization

/// One shard of the hub's data plane: the conversations whose ids hash to it, their relays and local
/// members, the live sessions of those members, and the catch-up cursors for its conversations.
///
/// Guarantees: everything a delivery to one conversation reads or changes lives in that
/// conversation's shard, so a delivery takes exactly one lock, deliveries to conversations of
/// different shards never wait for each other, and the order of one conversation's entries is decided
/// under its shard's lock. A user's sessions are listed in a shard only while the user is a local
/// member of one of the shard's conversations.
struct HubShard {
    var sessions: [UserID: [ConnectionID: Session]] = [:]
    /// Each local user's memberships among this shard's conversations.
    var memberships: [UserID: Set<ConversationID>] = [:]
    var members: [ConversationID: Set<UserID>] = [:]
    var relays: [ConversationID: ConversationRelay] = [:]
    /// Sessions still catching up in this shard's conversations: the seq each needs next (see ``Hub``).
    var catchUps: [ConnectionID: [ConversationID: Seq]] = [:]

    func sessions(of users: Set<UserID>) -> [Session] {
        users.flatMap { sessions[$0].map { Array($0.values) } ?? [] }
    }

    /// Adds a local member; returns true when the conversation had none (a relay was created).
    mutating func addMember(_ user: UserID, to conversation: ConversationID, maxPending: Int) -> Bool {
        memberships[user, default: []].insert(conversation)
        if members[conversation] != nil {
            members[conversation]?.insert(user)
            return false
        }
        members[conversation] = [user]
        relays[conversation] = ConversationRelay(maxPending: maxPending)
        return true
    }

    /// Removes a local member and its sessions' cursors in the conversation; returns true when the
    /// conversation has no local member left (its relay is gone).
    mutating func removeMember(_ user: UserID, from conversation: ConversationID) -> Bool {
        for session in (sessions[user] ?? [:]).keys {
            catchUps[session]?[conversation] = nil
            if catchUps[session]?.isEmpty == true { catchUps[session] = nil }
        }
        memberships[user]?.remove(conversation)
        if memberships[user]?.isEmpty == true {
            memberships[user] = nil
            sessions[user] = nil
        }
        guard members[conversation]?.remove(user) != nil else { return false }
        guard members[conversation]?.isEmpty == true else { return false }
        members[conversation] = nil
        relays[conversation] = nil
        return true
    }

    /// Lists `session` for its user's conversations in this shard and gives it a catch-up cursor in
    /// each it is behind in: from `resume`, else the user's delivered watermark in `positions`.
    mutating func attach(_ session: Session, positions: [ConversationID: Membership], resume: [ConversationID: Seq]) {
        let user = session.principal.user
        guard let conversations = memberships[user], !conversations.isEmpty else { return }
        sessions[user, default: [:]][session.id] = session
        var cursors: [ConversationID: Seq] = [:]
        for conversation in conversations {
            guard let position = positions[conversation] else { continue }
            let from = resume[conversation] ?? position.deliveredSeq
            let live = relays[conversation]?.expected ?? (position.lastSeq + 1)
            if from + 1 < live { cursors[conversation] = from + 1 }
        }
        if !cursors.isEmpty { catchUps[session.id] = cursors }
    }

    /// Removes `session` and its cursors.
    mutating func detach(_ session: Session) {
        let user = session.principal.user
        catchUps[session.id] = nil
        sessions[user]?[session.id] = nil
        if sessions[user]?.isEmpty == true { sessions[user] = nil }
    }

    /// Removes every local membership of `user` (its last session is gone); returns the conversations
    /// left without a local member.
    mutating func removeUser(_ user: UserID) -> [ConversationID] {
        let conversations = memberships[user] ?? []
        let dropped = conversations.filter { removeMember(user, from: $0) }
        memberships[user] = nil
        sessions[user] = nil
        return Array(dropped)
    }

    /// The first of `session`'s cursors in this shard that is behind the live stream, as the seq to
    /// read after; `nil` when it has cursors but all wait for a relay to start.
    func catchUpWork(for session: Session) -> (conversation: ConversationID, after: Seq)?? {
        guard let cursors = catchUps[session.id] else { return .none }
        for (conversation, next) in cursors {
            guard let live = relays[conversation]?.expected else { continue }
            if next < live { return .some((conversation, next - 1)) }
        }
        return .some(nil)
    }

    /// Delivers to a catching-up `session` the entries that continue its cursor, then switches it to
    /// the live path once the cursor meets the node's relay. Entries past a hole are skipped: the
    /// catch-up reads them from the store.
    mutating func advance(_ session: Session, in conversation: ConversationID, with envelopes: [Envelope], metrics: NodeMetrics) {
        guard let first = catchUps[session.id]?[conversation] else { return }
        var next = first
        for envelope in envelopes where envelope.seq == next {
            session.outbox.send(TextFrame.buffer(envelope.frame))
            next += 1
        }
        if next > first { metrics.eventsOut(.message, count: Int(next - first)) }
        if next == relays[conversation]?.expected {
            catchUps[session.id]?[conversation] = nil
            if catchUps[session.id]?.isEmpty == true { catchUps[session.id] = nil }
        } else {
            catchUps[session.id]?[conversation] = next
        }
    }

    /// Delivers a conversation's ordered entries to its local members: directly, or through the
    /// cursor of a session still catching up.
    mutating func deliver(_ ready: [Envelope], in conversation: ConversationID, metrics: NodeMetrics) {
        guard !ready.isEmpty else { return }
        var direct: [Session] = []
        for session in sessions(of: members[conversation] ?? []) {
            if catchUps[session.id]?[conversation] != nil {
                advance(session, in: conversation, with: ready, metrics: metrics)
            } else {
                direct.append(session)
            }
        }
        Self.fanOut(ready, to: direct, metrics: metrics)
    }

    /// Feeds entries through a conversation's relay and delivers what it releases, in order.
    mutating func relay(_ envelopes: [Envelope], in conversation: ConversationID, now: Timestamp, metrics: NodeMetrics) -> [Envelope] {
        guard var relay = relays[conversation] else { return [] }
        var ready: [Envelope] = []
        for envelope in envelopes { ready += relay.receive(envelope, now: now) }
        relays[conversation] = relay
        deliver(ready, in: conversation, metrics: metrics)
        return ready
    }

    /// Writes each envelope's bytes, encoded once, to every session's outbox.
    static func fanOut(_ envelopes: [Envelope], to sessions: [Session], metrics: NodeMetrics) {
        guard !sessions.isEmpty else { return }
        for envelope in envelopes {
            metrics.eventsOut(envelope.kind, count: sessions.count)
            let bytes = TextFrame.buffer(envelope.frame)
            for session in sessions { session.outbox.send(bytes) }
        }
    }
}

/// A shard behind its own lock (a `Mutex` cannot sit in an array by itself).
final class LockedShard: Sendable {
    let state = Mutex(HubShard())
}

/// What the hub knows per user rather than per conversation: every live session, each local user's
/// memberships, and the support desks. Changed by the control plane; the data plane reads it only for
/// events addressed to a user or a desk.
struct HubRegistry {
    var sessions: [UserID: [ConnectionID: Session]] = [:]
    var memberships: [UserID: Set<ConversationID>] = [:]
    /// The sessions of each workspace's support agents (their tokens' `agent:` roles).
    var desks: [WorkspaceID: [ConnectionID: Session]] = [:]

    func sessions(of user: UserID) -> [Session] { sessions[user].map { Array($0.values) } ?? [] }
}

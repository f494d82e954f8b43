import ChatCore
import ChatWire
import Synchronization

/// Builds envelopes for domain changes, encoding each client frame once, and publishes them on the
/// broker (a stored entry's envelope goes through the ``ChangeFeed``, with its invalidation).
/// Publishing is best effort: the change is already stored, and receivers repair gaps from the store,
/// so a failed publish is logged by the caller and never fails the request.
public final class EventPublisher: Sendable {
    private let broker: any Broker
    private let node: NodeID
    private let counter = Atomic<UInt64>(0)

    public init(broker: any Broker, node: NodeID) {
        self.broker = broker
        self.node = node
    }

    private func nextID() -> UInt64 { counter.add(1, ordering: .relaxed).newValue }

    /// The envelope of a stored message, as the relay of any node would deliver it.
    public static func messageEnvelope(
        _ message: Message, encoded: EncodedMessage? = nil, origin: NodeID, eventID: UInt64
    ) -> Envelope {
        Envelope(
            channel: .conversation(message.conversation), kind: .message, origin: origin, eventID: eventID,
            conversation: message.conversation, seq: message.seq, sentAt: message.createdAt,
            frame: FrameCodec.event(EventType.entry(message.action), message: encoded ?? EncodedMessage(MessageBody(message))))
    }

    /// A stored entry's envelope from this node, for a ``ChangeFeed`` to publish, with its bytes when
    /// the caller has them already (a send encodes its entry once, for the ack and the event).
    func envelope(of message: Message, encoded: EncodedMessage? = nil) -> Envelope {
        Self.messageEnvelope(message, encoded: encoded, origin: node, eventID: nextID())
    }

    /// Sends `entries` again to `user`'s connections on every node (the `redeliver` job), as the
    /// same events their conversations' channels carried.
    func redeliver(_ entries: [Message], to user: UserID) async throws {
        for entry in entries {
            let live = Self.messageEnvelope(entry, origin: node, eventID: nextID())
            try await broker.publish(
                Envelope(channel: .user(user), kind: .notice, origin: node, eventID: live.eventID, subject: user, frame: live.frame))
        }
    }

    /// Tells each of `users` they joined `conversation`, then tells existing members it changed.
    func joined(_ users: [UserID], _ conversation: Conversation, notifyMembers: Bool) async throws {
        let frame = FrameCodec.event(.conversationJoined, ConversationReply(conversation: ConversationBody(conversation)))
        for user in users {
            try await broker.publish(
                Envelope(
                    channel: .user(user), kind: .joined, origin: node, eventID: nextID(), conversation: conversation.id,
                    seq: conversation.lastSeq, subject: user, frame: frame))
        }
        if notifyMembers { try await updated(conversation) }
    }

    /// Tells `user` they left `conversation`, and the remaining members that it changed.
    func left(_ user: UserID, _ conversation: Conversation) async throws {
        try await broker.publish(
            Envelope(
                channel: .user(user), kind: .left, origin: node, eventID: nextID(), conversation: conversation.id, subject: user,
                frame: FrameCodec.event(.conversationLeft, LeftEvent(conversation: conversation.id.rawValue))))
        try await updated(conversation)
    }

    /// Tells the conversation's members that a participant's watermarks moved.
    func receipt(_ body: ReceiptBody, in conversation: ConversationID) async throws {
        try await broker.publish(
            Envelope(
                channel: .conversation(conversation), kind: .signal, origin: node, eventID: nextID(), conversation: conversation,
                frame: FrameCodec.event(.receipt, body)))
    }

    /// Tells the conversation's other members that `user` is typing.
    func typing(_ user: UserID, in conversation: ConversationID, expiresIn: Duration) async throws {
        let body = TypingEvent(conversation: conversation.rawValue, user: user.rawValue, expiresInMs: expiresIn.wholeMilliseconds)
        try await broker.publish(
            Envelope(
                channel: .conversation(conversation), kind: .signalOthers, origin: node, eventID: nextID(),
                conversation: conversation, subject: user, frame: FrameCodec.event(.typing, body)))
    }

    /// Tells the user's contacts (the other members of `conversations`) that the user went online or
    /// offline: one event on the presence channel, which every node receives and hands to its own
    /// sessions of those members, so a transition costs one `PUBLISH` and no store read however many
    /// contacts the user has. A user in more than ``presenceConversationsPerEvent`` conversations takes
    /// one event per that many (a contact who shares conversations in two of them hears it twice).
    func presence(_ transition: PresenceTransition, in conversations: some Collection<ConversationID>) async throws {
        guard !conversations.isEmpty else { return }
        let body: PresenceBody
        switch transition {
        case .online(let user): body = PresenceBody(user: user.rawValue, online: true, lastSeen: nil)
        case .offline(let user, let lastSeen): body = PresenceBody(user: user.rawValue, online: false, lastSeen: lastSeen.milliseconds)
        }
        let frame = FrameCodec.event(.presence, body)
        for part in Array(conversations).chunks(of: Self.presenceConversationsPerEvent) {
            try await broker.publish(
                Envelope(
                    channel: .presence, kind: .presence, origin: node, eventID: nextID(), subject: transition.user, conversations: Array(part),
                    frame: frame))
        }
    }

    /// The most conversations one presence event names (its size stays under about 50 KB).
    static let presenceConversationsPerEvent = 1_000

    /// Tells a workspace's agents about a support request (queued, claimed, closed).
    func desk(_ type: EventType, _ request: SupportRequest) async throws {
        try await broker.publish(
            Envelope(
                channel: .desk(request.workspace), kind: .desk, origin: node, eventID: nextID(),
                frame: FrameCodec.event(type, SupportEvent(request: SupportRequestBody(request)))))
    }

    func updated(_ conversation: Conversation) async throws {
        try await broker.publish(
            Envelope(
                channel: .conversation(conversation.id), kind: .conversationUpdated, origin: node, eventID: nextID(),
                conversation: conversation.id,
                frame: FrameCodec.event(.conversationUpdated, ConversationReply(conversation: ConversationBody(conversation)))))
    }
}

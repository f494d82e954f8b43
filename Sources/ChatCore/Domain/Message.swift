/// What a message's content is. The node never looks inside the content; the kind tells clients how to
/// show it. `system` messages are written by the node itself and cannot be sent by clients.
public enum MessageKind: String, Sendable, Hashable, Codable, CaseIterable {
    case text
    case image
    case file
    case voice
    case system
}

/// A stored message.
///
/// Guarantees: `seq` is the message's position in its conversation, unique and gap-free from 1;
/// (`conversation`, `sender`, `clientID`) is unique, so a retried send finds the same message.
public struct Message: Sendable, Hashable {
    public var id: MessageID
    public var conversation: ConversationID
    public var seq: Seq
    public var sender: UserID
    public var clientID: ClientMessageID
    public var kind: MessageKind
    public var content: String
    public var metadata: JSONValue?
    public var createdAt: Timestamp

    public init(
        id: MessageID, conversation: ConversationID, seq: Seq, sender: UserID, clientID: ClientMessageID,
        kind: MessageKind, content: String, metadata: JSONValue?, createdAt: Timestamp
    ) {
        self.id = id
        self.conversation = conversation
        self.seq = seq
        self.sender = sender
        self.clientID = clientID
        self.kind = kind
        self.content = content
        self.metadata = metadata
        self.createdAt = createdAt
    }
}

/// A message the store has not numbered yet. The store assigns `seq` in the transaction that stores it.
public struct MessageDraft: Sendable, Hashable {
    public var id: MessageID
    public var conversation: ConversationID
    public var sender: UserID
    public var clientID: ClientMessageID
    public var kind: MessageKind
    public var content: String
    public var metadata: JSONValue?
    public var createdAt: Timestamp

    public init(
        id: MessageID, conversation: ConversationID, sender: UserID, clientID: ClientMessageID, kind: MessageKind,
        content: String, metadata: JSONValue?, createdAt: Timestamp
    ) {
        self.id = id
        self.conversation = conversation
        self.sender = sender
        self.clientID = clientID
        self.kind = kind
        self.content = content
        self.metadata = metadata
        self.createdAt = createdAt
    }
}

/// The outcome of storing a draft: the stored message, and whether this call created it or found the
/// one an earlier call with the same client id had stored.
public struct AppendResult: Sendable, Hashable {
    public var message: Message
    public var created: Bool

    public init(message: Message, created: Bool) {
        self.message = message
        self.created = created
    }
}

/// Which slice of a conversation's history to read. Seqs are exclusive bounds; results are always in
/// ascending seq order. With `before`, the page is the newest `limit` entries below it; with `after`,
/// the oldest `limit` entries above it; with neither, the newest `limit` entries.
public struct HistoryQuery: Sendable, Hashable {
    public var before: Seq?
    public var after: Seq?
    public var limit: Int

    public init(before: Seq? = nil, after: Seq? = nil, limit: Int) {
        self.before = before
        self.after = after
        self.limit = limit
    }
}

/// A page of history in ascending seq order, and whether more entries lie beyond it in the direction read.
public struct HistoryPage: Sendable, Hashable {
    public var messages: [Message]
    public var hasMore: Bool

    public init(messages: [Message], hasMore: Bool) {
        self.messages = messages
        self.hasMore = hasMore
    }
}

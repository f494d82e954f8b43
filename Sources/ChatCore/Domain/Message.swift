/// What a message's content is. The node never looks inside the content; the kind tells clients how to
/// show it. `system` messages are written by the node itself and cannot be sent by clients.
public enum MessageKind: String, Sendable, Hashable, Codable, CaseIterable {
    case text
    case image
    case file
    case voice
    case system
}

/// What an entry of a conversation's log does. A `post` is a new message; every other action acts on
/// an earlier post, named by its seq, and is itself an entry with its own seq, so that a client that
/// resumes from a seq replays edits, deletions and reactions in order with the posts.
public enum MessageAction: Sendable, Hashable {
    case post
    /// Replaces the target's content and metadata (its sender only).
    case edit(target: Seq)
    /// Leaves a tombstone: the target keeps its seq, loses its content (its sender, or an admin or moderator).
    case delete(target: Seq)
    /// Adds the sender's reaction `emoji` to the target.
    case react(target: Seq, emoji: String)
    /// Removes the sender's reaction `emoji` from the target.
    case unreact(target: Seq, emoji: String)

    /// The post this action acts on; nil for a post.
    public var target: Seq? {
        switch self {
        case .post: nil
        case .edit(let target), .delete(let target), .react(let target, _), .unreact(let target, _): target
        }
    }

    /// The reaction's emoji, for `react` and `unreact`.
    public var emoji: String? {
        switch self {
        case .react(_, let emoji), .unreact(_, let emoji): emoji
        default: nil
        }
    }

    /// True for the actions whose entry keeps content and metadata (a post, an edit); the others store none.
    public var carriesContent: Bool {
        switch self {
        case .post, .edit: true
        case .delete, .react, .unreact: false
        }
    }

    /// The stable name stored and sent on the wire: `post`, `edit`, `delete`, `react`, `unreact`.
    public var name: String {
        switch self {
        case .post: "post"
        case .edit: "edit"
        case .delete: "delete"
        case .react: "react"
        case .unreact: "unreact"
        }
    }

    /// Rebuilds an action from its stored parts; nil when they do not make one.
    public init?(name: String, target: Seq?, emoji: String?) {
        switch (name, target, emoji) {
        case ("post", _, _): self = .post
        case ("edit", let target?, _): self = .edit(target: target)
        case ("delete", let target?, _): self = .delete(target: target)
        case ("react", let target?, let emoji?): self = .react(target: target, emoji: emoji)
        case ("unreact", let target?, let emoji?): self = .unreact(target: target, emoji: emoji)
        default: return nil
        }
    }
}

/// The users who reacted to a post with one emoji, in the order they reacted (ties by user id).
public struct Reaction: Sendable, Hashable {
    public var emoji: String
    public var users: [UserID]

    public init(emoji: String, users: [UserID]) {
        self.emoji = emoji
        self.users = users
    }
}

/// A stored entry of a conversation's log: a message (`action == .post`), or an edit, deletion or
/// reaction acting on one.
///
/// Guarantees: `seq` is the entry's position in its conversation, unique and gap-free from 1;
/// (`conversation`, `sender`, `clientID`) is unique, so a retried send finds the same entry. A post is
/// read as it is now: `content` is the latest edit, `deletedAt` is set and `content` empty once it was
/// deleted, `reactions` lists who reacted. An edit entry's content is emptied too when its post is deleted.
public struct Message: Sendable, Hashable {
    public var id: MessageID
    public var conversation: ConversationID
    public var seq: Seq
    public var sender: UserID
    public var clientID: ClientMessageID
    public var action: MessageAction
    /// For a post, how to show it; for other actions, the kind of the post they act on.
    public var kind: MessageKind
    public var content: String
    public var metadata: JSONValue?
    public var createdAt: Timestamp
    public var editedAt: Timestamp?
    public var deletedAt: Timestamp?
    public var reactions: [Reaction]

    public init(
        id: MessageID, conversation: ConversationID, seq: Seq, sender: UserID, clientID: ClientMessageID,
        action: MessageAction = .post, kind: MessageKind, content: String, metadata: JSONValue?, createdAt: Timestamp,
        editedAt: Timestamp? = nil, deletedAt: Timestamp? = nil, reactions: [Reaction] = []
    ) {
        self.id = id
        self.conversation = conversation
        self.seq = seq
        self.sender = sender
        self.clientID = clientID
        self.action = action
        self.kind = kind
        self.content = content
        self.metadata = metadata
        self.createdAt = createdAt
        self.editedAt = editedAt
        self.deletedAt = deletedAt
        self.reactions = reactions
    }

    /// True for a post that was deleted.
    public var isDeleted: Bool { deletedAt != nil }
}

/// A message the store has not numbered yet. The store assigns `seq` in the transaction that stores it.
public struct MessageDraft: Sendable, Hashable {
    public var id: MessageID
    public var conversation: ConversationID
    public var sender: UserID
    public var clientID: ClientMessageID
    public var action: MessageAction
    public var kind: MessageKind
    public var content: String
    public var metadata: JSONValue?
    public var createdAt: Timestamp

    public init(
        id: MessageID, conversation: ConversationID, sender: UserID, clientID: ClientMessageID, action: MessageAction = .post,
        kind: MessageKind, content: String, metadata: JSONValue?, createdAt: Timestamp
    ) {
        self.id = id
        self.conversation = conversation
        self.sender = sender
        self.clientID = clientID
        self.action = action
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

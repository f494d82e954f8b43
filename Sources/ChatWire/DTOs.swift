import ChatCore

// The JSON shapes of the protocol. WebSocket acks and REST responses carry the same bodies, so a client
// decodes one set of types whichever transport it uses. Keys are snake_case; times are integer
// milliseconds since the Unix epoch; seqs are integers.

/// A participant on the wire.
/// A participant on the wire, with their receipt watermarks (so a sender sees who has read what).
public struct ParticipantBody: Codable, Sendable, Hashable {
    public var user: String
    public var role: Role
    public var joinedAt: Int64
    public var deliveredSeq: Int64
    public var readSeq: Int64

    enum CodingKeys: String, CodingKey {
        case user, role
        case joinedAt = "joined_at"
        case deliveredSeq = "delivered_seq"
        case readSeq = "read_seq"
    }

    public init(_ participant: Participant) {
        user = participant.user.rawValue
        role = participant.role
        joinedAt = participant.joinedAt.milliseconds
        deliveredSeq = participant.deliveredSeq
        readSeq = participant.readSeq
    }
}

/// A conversation on the wire.
public struct ConversationBody: Codable, Sendable, Hashable {
    public var id: String
    public var kind: ConversationKind
    public var title: String?
    public var workspace: String?
    public var createdBy: String
    public var createdAt: Int64
    public var lastSeq: Int64
    public var lastActivityAt: Int64
    public var closedAt: Int64?
    public var participants: [ParticipantBody]

    enum CodingKeys: String, CodingKey {
        case id, kind, title, workspace, participants
        case createdBy = "created_by"
        case createdAt = "created_at"
        case lastSeq = "last_seq"
        case lastActivityAt = "last_activity_at"
        case closedAt = "closed_at"
    }

    public init(_ conversation: Conversation) {
        id = conversation.id.rawValue
        kind = conversation.kind
        title = conversation.title
        workspace = conversation.workspace?.rawValue
        createdBy = conversation.createdBy.rawValue
        createdAt = conversation.createdAt.milliseconds
        lastSeq = conversation.lastSeq
        lastActivityAt = conversation.lastActivityAt.milliseconds
        closedAt = conversation.closedAt?.milliseconds
        participants = conversation.participants.map(ParticipantBody.init)
    }
}

/// The users who reacted to a post with one emoji.
public struct ReactionBody: Codable, Sendable, Hashable {
    public var emoji: String
    public var users: [String]

    public init(_ reaction: Reaction) {
        emoji = reaction.emoji
        users = reaction.users.map(\.rawValue)
    }
}

/// A log entry encoded once: the event that announces it, the `ack` of its send and the REST reply
/// all carry these bytes (``FrameCodec/event(_:message:)``, ``FrameCodec/ack(re:sent:duplicate:)``),
/// so a send encodes its entry once instead of once for each.
public struct EncodedMessage: Sendable, Hashable {
    public let body: MessageBody
    /// `body` as JSON.
    public let json: [UInt8]

    public init(_ body: MessageBody) {
        self.body = body
        self.json = body.json
    }
}

extension MessageBody {
    /// The JSON value `FrameCodec.body(self)` makes (same members and strings; members in declaration
    /// order, absent ones left out), written by hand: this is encoded once per message on the send
    /// path, where Foundation's encoder cost more than the rest of the encoding. The metadata (rare,
    /// any JSON) goes through Foundation.
    var json: [UInt8] {
        var json = JSONBytes(capacity: 160 + content.utf8.count)
        json.openObject()
        json.member("id", id)
        json.member("conversation", conversation)
        json.member("seq", seq)
        json.member("sender", sender)
        json.member("client_id", clientID)
        json.member("action", action)
        json.member("target", target)
        json.member("emoji", emoji)
        json.member("kind", kind.rawValue)
        json.member("content", content)
        if let metadata {
            json.key("metadata")
            json.value(FrameCodec.body(metadata))
        }
        json.member("created_at", createdAt)
        json.member("edited_at", editedAt)
        json.member("deleted_at", deletedAt)
        if let reactions {
            json.key("reactions")
            json.openArray()
            for reaction in reactions {
                json.openObject()
                json.member("emoji", reaction.emoji)
                json.key("users")
                json.openArray()
                for user in reaction.users { json.string(user) }
                json.closeArray()
                json.closeObject()
            }
            json.closeArray()
        }
        json.closeObject()
        return json.bytes
    }
}

/// An entry of a conversation's log on the wire: a post, or an edit, deletion or reaction naming its
/// post's seq in `target`. Posts read from history show their current state.
public struct MessageBody: Codable, Sendable, Hashable {
    public var id: String
    public var conversation: String
    public var seq: Int64
    public var sender: String
    public var clientID: String
    /// `post`, `edit`, `delete`, `react` or `unreact`.
    public var action: String
    public var target: Int64?
    public var emoji: String?
    public var kind: MessageKind
    public var content: String
    public var metadata: JSONValue?
    public var createdAt: Int64
    public var editedAt: Int64?
    public var deletedAt: Int64?
    public var reactions: [ReactionBody]?

    enum CodingKeys: String, CodingKey {
        case id, conversation, seq, sender, kind, content, metadata, action, target, emoji, reactions
        case clientID = "client_id"
        case createdAt = "created_at"
        case editedAt = "edited_at"
        case deletedAt = "deleted_at"
    }

    public init(_ message: Message) {
        id = message.id.rawValue
        conversation = message.conversation.rawValue
        seq = message.seq
        sender = message.sender.rawValue
        clientID = message.clientID.rawValue
        action = message.action.name
        target = message.action.target
        emoji = message.action.emoji
        kind = message.kind
        content = message.content
        metadata = message.metadata
        createdAt = message.createdAt.milliseconds
        editedAt = message.editedAt?.milliseconds
        deletedAt = message.deletedAt?.milliseconds
        reactions = message.reactions.isEmpty ? nil : message.reactions.map(ReactionBody.init)
    }
}

/// A conversation in the caller's list, with its newest post, the caller's unread count (posts from
/// others after their read watermark) and whether the caller archived it.
public struct SummaryBody: Codable, Sendable, Hashable {
    public var conversation: ConversationBody
    public var lastMessage: MessageBody?
    public var unread: Int
    public var archived: Bool

    enum CodingKeys: String, CodingKey {
        case conversation, unread, archived
        case lastMessage = "last_message"
    }

    public init(_ summary: ConversationSummary) {
        conversation = ConversationBody(summary.conversation)
        lastMessage = summary.lastMessage.map(MessageBody.init)
        unread = summary.unread
        // A closed conversation is archived for everyone, whatever a participant's own flag says.
        archived = summary.archived || summary.conversation.closedAt != nil
    }
}

/// Reply to creating or reading a conversation; `created` is set by the create operations,
/// `last_message` (the newest post, as list previews show it) by `conversation.get`.
public struct ConversationReply: Codable, Sendable, Hashable {
    public var conversation: ConversationBody
    public var created: Bool?
    public var lastMessage: MessageBody?

    enum CodingKeys: String, CodingKey {
        case conversation, created
        case lastMessage = "last_message"
    }

    public init(conversation: ConversationBody, created: Bool? = nil, lastMessage: MessageBody? = nil) {
        self.conversation = conversation
        self.created = created
        self.lastMessage = lastMessage
    }
}

/// A conversation's ``ConversationActivity`` in the form the cache keeps it.
public struct ActivityBody: Codable, Sendable, Hashable {
    public var lastSeq: Int64
    public var lastActivityAt: Int64
    public var lastMessage: MessageBody?

    enum CodingKeys: String, CodingKey {
        case lastSeq = "last_seq"
        case lastActivityAt = "last_activity_at"
        case lastMessage = "last_message"
    }

    public init(_ activity: ConversationActivity) {
        lastSeq = activity.lastSeq
        lastActivityAt = activity.lastActivityAt.milliseconds
        lastMessage = activity.lastPost.map(MessageBody.init)
    }
}

/// Reply to listing conversations.
public struct ConversationListReply: Codable, Sendable, Hashable {
    public var conversations: [SummaryBody]
    public var nextCursor: String?

    enum CodingKeys: String, CodingKey {
        case conversations
        case nextCursor = "next_cursor"
    }

    public init(conversations: [SummaryBody], nextCursor: String?) {
        self.conversations = conversations
        self.nextCursor = nextCursor
    }
}

/// Reply to a send: the stored message; `duplicate` is true when an earlier send with the same client
/// id had stored it.
public struct SendReply: Codable, Sendable, Hashable {
    public var message: MessageBody
    public var duplicate: Bool
    public init(message: MessageBody, duplicate: Bool) {
        self.message = message
        self.duplicate = duplicate
    }
}

/// Reply to a history read: messages in ascending seq order.
public struct HistoryReply: Codable, Sendable, Hashable {
    public var messages: [MessageBody]
    public var hasMore: Bool

    enum CodingKeys: String, CodingKey {
        case messages
        case hasMore = "has_more"
    }

    public init(messages: [MessageBody], hasMore: Bool) {
        self.messages = messages
        self.hasMore = hasMore
    }
}

/// An empty reply (leave, ping).
public struct EmptyReply: Codable, Sendable, Hashable {
    public init() {}
}

/// The body of an `error` frame and of every REST error response (under `error`).
public struct ErrorBody: Codable, Sendable, Hashable {
    public var code: String
    public var message: String
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }
    public init(_ error: ChatError) {
        self.init(code: error.code.rawValue, message: error.message)
    }
}

/// A REST error response: `{"error": {"code": "...", "message": "..."}}`.
public struct ErrorResponse: Codable, Sendable, Hashable {
    public var error: ErrorBody
    public init(error: ErrorBody) { self.error = error }
}

/// Sent once a WebSocket is authenticated.
public struct WelcomeBody: Codable, Sendable, Hashable {
    public var user: String
    public var node: String
    public var connection: String
    public var maxFrameBytes: Int
    public var maxContentBytes: Int

    enum CodingKeys: String, CodingKey {
        case user, node, connection
        case maxFrameBytes = "max_frame_bytes"
        case maxContentBytes = "max_content_bytes"
    }

    public init(user: String, node: String, connection: String, maxFrameBytes: Int, maxContentBytes: Int) {
        self.user = user
        self.node = node
        self.connection = connection
        self.maxFrameBytes = maxFrameBytes
        self.maxContentBytes = maxContentBytes
    }
}

/// Event: a message was stored in a conversation you are in.
public struct MessageEvent: Codable, Sendable, Hashable {
    public var message: MessageBody
    public init(message: MessageBody) { self.message = message }
}

/// Event: you left or were removed from a conversation.
public struct LeftEvent: Codable, Sendable, Hashable {
    public var conversation: String
    public init(conversation: String) { self.conversation = conversation }
}

/// Reply to a receipt mark, and the `receipt` event the conversation's members get when a
/// participant's watermarks move.
public struct ReceiptBody: Codable, Sendable, Hashable {
    public var conversation: String
    public var user: String
    public var deliveredSeq: Int64
    public var readSeq: Int64

    enum CodingKeys: String, CodingKey {
        case conversation, user
        case deliveredSeq = "delivered_seq"
        case readSeq = "read_seq"
    }

    public init(conversation: String, user: String, deliveredSeq: Int64, readSeq: Int64) {
        self.conversation = conversation
        self.user = user
        self.deliveredSeq = deliveredSeq
        self.readSeq = readSeq
    }
}

/// Event: `user` is typing in `conversation`; show it as stopped after `expires_in_ms` unless another
/// typing event arrives.
public struct TypingEvent: Codable, Sendable, Hashable {
    public var conversation: String
    public var user: String
    public var expiresInMs: Int64

    enum CodingKeys: String, CodingKey {
        case conversation, user
        case expiresInMs = "expires_in_ms"
    }

    public init(conversation: String, user: String, expiresInMs: Int64) {
        self.conversation = conversation
        self.user = user
        self.expiresInMs = expiresInMs
    }
}

/// One user's presence: the `presence` event, and an entry of a presence query's reply. `last_seen`
/// is set once the user's last connection went away.
public struct PresenceBody: Codable, Sendable, Hashable {
    public var user: String
    public var online: Bool
    public var lastSeen: Int64?

    enum CodingKeys: String, CodingKey {
        case user, online
        case lastSeen = "last_seen"
    }

    public init(user: String, online: Bool, lastSeen: Int64?) {
        self.user = user
        self.online = online
        self.lastSeen = lastSeen
    }

    public init(_ presence: UserPresence) {
        self.init(user: presence.user.rawValue, online: presence.online, lastSeen: presence.lastSeen?.milliseconds)
    }
}

/// Reply to a presence query, in the order asked.
public struct PresenceReply: Codable, Sendable, Hashable {
    public var users: [PresenceBody]
    public init(users: [PresenceBody]) { self.users = users }
}

/// Event: the node is going away; reconnect (to any node) after `delay_ms`.
public struct ReconnectEvent: Codable, Sendable, Hashable {
    public var delayMs: Int64
    public var reason: String

    enum CodingKeys: String, CodingKey {
        case reason
        case delayMs = "delay_ms"
    }

    public init(delayMs: Int64, reason: String) {
        self.delayMs = delayMs
        self.reason = reason
    }
}

/// The body of an away-notice webhook call (docs/protocol.md, "Webhooks").
public struct AwayNoticeBody: Codable, Sendable, Hashable {
    /// The conversation, without its participant list (a group may be large).
    public struct ConversationRef: Codable, Sendable, Hashable {
        public var id: String
        public var kind: ConversationKind
        public var title: String?
        public var workspace: String?
    }

    public struct Recipient: Codable, Sendable, Hashable {
        public var user: String
        public var deliveredSeq: Int64
        enum CodingKeys: String, CodingKey {
            case user
            case deliveredSeq = "delivered_seq"
        }
    }

    public var type: String
    public var id: String
    public var conversation: ConversationRef
    public var lastSeq: Int64
    public var lastMessage: MessageBody?
    public var recipients: [Recipient]

    enum CodingKeys: String, CodingKey {
        case type, id, conversation, recipients
        case lastSeq = "last_seq"
        case lastMessage = "last_message"
    }

    public init(_ notice: AwayNotice) {
        type = "away_notice"
        id = notice.id
        conversation = ConversationRef(
            id: notice.conversation.id.rawValue, kind: notice.conversation.kind, title: notice.conversation.title,
            workspace: notice.conversation.workspace?.rawValue)
        lastSeq = notice.lastSeq
        lastMessage = notice.lastPost.map(MessageBody.init)
        recipients = notice.recipients.map { Recipient(user: $0.user.rawValue, deliveredSeq: $0.deliveredSeq) }
    }
}

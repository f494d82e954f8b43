import ChatCore

// The JSON shapes of the protocol. WebSocket acks and REST responses carry the same bodies, so a client
// decodes one set of types whichever transport it uses. Keys are snake_case; times are integer
// milliseconds since the Unix epoch; seqs are integers.

/// A participant on the wire.
public struct ParticipantBody: Codable, Sendable, Hashable {
    public var user: String
    public var role: Role
    public var joinedAt: Int64

    enum CodingKeys: String, CodingKey {
        case user, role
        case joinedAt = "joined_at"
    }

    public init(_ participant: Participant) {
        user = participant.user.rawValue
        role = participant.role
        joinedAt = participant.joinedAt.milliseconds
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
    public var participants: [ParticipantBody]

    enum CodingKeys: String, CodingKey {
        case id, kind, title, workspace, participants
        case createdBy = "created_by"
        case createdAt = "created_at"
        case lastSeq = "last_seq"
        case lastActivityAt = "last_activity_at"
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
        participants = conversation.participants.map(ParticipantBody.init)
    }
}

/// A message on the wire.
public struct MessageBody: Codable, Sendable, Hashable {
    public var id: String
    public var conversation: String
    public var seq: Int64
    public var sender: String
    public var clientID: String
    public var kind: MessageKind
    public var content: String
    public var metadata: JSONValue?
    public var createdAt: Int64

    enum CodingKeys: String, CodingKey {
        case id, conversation, seq, sender, kind, content, metadata
        case clientID = "client_id"
        case createdAt = "created_at"
    }

    public init(_ message: Message) {
        id = message.id.rawValue
        conversation = message.conversation.rawValue
        seq = message.seq
        sender = message.sender.rawValue
        clientID = message.clientID.rawValue
        kind = message.kind
        content = message.content
        metadata = message.metadata
        createdAt = message.createdAt.milliseconds
    }
}

/// A conversation in a list, with its newest message.
public struct SummaryBody: Codable, Sendable, Hashable {
    public var conversation: ConversationBody
    public var lastMessage: MessageBody?

    enum CodingKeys: String, CodingKey {
        case conversation
        case lastMessage = "last_message"
    }

    public init(_ summary: ConversationSummary) {
        conversation = ConversationBody(summary.conversation)
        lastMessage = summary.lastMessage.map(MessageBody.init)
    }
}

/// Reply to creating or reading a conversation; `created` is set by the create operations.
public struct ConversationReply: Codable, Sendable, Hashable {
    public var conversation: ConversationBody
    public var created: Bool?
    public init(conversation: ConversationBody, created: Bool? = nil) {
        self.conversation = conversation
        self.created = created
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

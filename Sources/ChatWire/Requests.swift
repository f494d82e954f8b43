import ChatCore

// Request bodies. REST routes take the same bodies as the WebSocket payloads, minus the ids the path
// already names.

/// `auth` payload: the token a browser could not put in a header, and optionally where the client
/// stopped in each conversation (`{conversation id: last seq seen}`): the node then sends every entry
/// after those seqs, once and in order, before live ones. Conversations not named resume from the
/// user's delivered watermark.
public struct AuthRequest: Codable, Sendable, Hashable {
    public var token: String
    public var resume: [String: Int64]?
    public init(token: String, resume: [String: Int64]? = nil) {
        self.token = token
        self.resume = resume
    }
}

/// Create (or find) the direct conversation with `user`.
public struct CreateDirectRequest: Codable, Sendable, Hashable {
    public var user: String
    public var workspace: String?
    public init(user: String, workspace: String? = nil) {
        self.user = user
        self.workspace = workspace
    }
}

/// Create a group with the caller as admin.
public struct CreateGroupRequest: Codable, Sendable, Hashable {
    public var title: String
    public var participants: [String]
    public var workspace: String?
    public init(title: String, participants: [String], workspace: String? = nil) {
        self.title = title
        self.participants = participants
        self.workspace = workspace
    }
}

/// List the caller's conversations.
public struct ListConversationsRequest: Codable, Sendable, Hashable {
    public var cursor: String?
    public var limit: Int?
    public var workspace: String?
    public init(cursor: String? = nil, limit: Int? = nil, workspace: String? = nil) {
        self.cursor = cursor
        self.limit = limit
        self.workspace = workspace
    }
}

/// Names one conversation (get, leave).
public struct ConversationRequest: Codable, Sendable, Hashable {
    public var conversation: String
    public init(conversation: String) { self.conversation = conversation }
}

/// Add users to a group (admins only); `role` defaults to member.
public struct AddParticipantsRequest: Codable, Sendable, Hashable {
    public var conversation: String?
    public var users: [String]
    public var role: Role?
    public init(conversation: String? = nil, users: [String], role: Role? = nil) {
        self.conversation = conversation
        self.users = users
        self.role = role
    }
}

/// Remove a user from a group (admins only).
public struct RemoveParticipantRequest: Codable, Sendable, Hashable {
    public var conversation: String
    public var user: String
    public init(conversation: String, user: String) {
        self.conversation = conversation
        self.user = user
    }
}

/// Change a participant's role (admins only).
public struct SetRoleRequest: Codable, Sendable, Hashable {
    public var conversation: String?
    public var user: String?
    public var role: Role
    public init(conversation: String? = nil, user: String? = nil, role: Role) {
        self.conversation = conversation
        self.user = user
        self.role = role
    }
}

/// Send a message. `client_id` makes retries safe; `kind` defaults to text.
public struct SendRequest: Codable, Sendable, Hashable {
    public var conversation: String?
    public var clientID: String
    public var kind: MessageKind?
    public var content: String
    public var metadata: JSONValue?

    enum CodingKeys: String, CodingKey {
        case conversation, kind, content, metadata
        case clientID = "client_id"
    }

    public init(conversation: String? = nil, clientID: String, kind: MessageKind? = nil, content: String, metadata: JSONValue? = nil) {
        self.conversation = conversation
        self.clientID = clientID
        self.kind = kind
        self.content = content
        self.metadata = metadata
    }
}

/// Read history: `before` and `after` are exclusive seq bounds.
public struct HistoryRequest: Codable, Sendable, Hashable {
    public var conversation: String?
    public var before: Int64?
    public var after: Int64?
    public var limit: Int?
    public init(conversation: String? = nil, before: Int64? = nil, after: Int64? = nil, limit: Int? = nil) {
        self.conversation = conversation
        self.before = before
        self.after = after
        self.limit = limit
    }
}

/// Edit a post of yours: `seq` names it.
public struct EditRequest: Codable, Sendable, Hashable {
    public var conversation: String?
    public var seq: Int64?
    public var content: String
    public var metadata: JSONValue?
    public var clientID: String?

    enum CodingKeys: String, CodingKey {
        case conversation, seq, content, metadata
        case clientID = "client_id"
    }

    public init(conversation: String? = nil, seq: Int64? = nil, content: String, metadata: JSONValue? = nil, clientID: String? = nil) {
        self.conversation = conversation
        self.seq = seq
        self.content = content
        self.metadata = metadata
        self.clientID = clientID
    }
}

/// Delete a post (yours, or any as an admin or moderator of a group).
public struct DeleteRequest: Codable, Sendable, Hashable {
    public var conversation: String?
    public var seq: Int64?
    public var clientID: String?

    enum CodingKeys: String, CodingKey {
        case conversation, seq
        case clientID = "client_id"
    }

    public init(conversation: String? = nil, seq: Int64? = nil, clientID: String? = nil) {
        self.conversation = conversation
        self.seq = seq
        self.clientID = clientID
    }
}

/// Add or remove your reaction `emoji` on a post.
public struct ReactionRequest: Codable, Sendable, Hashable {
    public var conversation: String?
    public var seq: Int64?
    public var emoji: String
    public var clientID: String?

    enum CodingKeys: String, CodingKey {
        case conversation, seq, emoji
        case clientID = "client_id"
    }

    public init(conversation: String? = nil, seq: Int64? = nil, emoji: String, clientID: String? = nil) {
        self.conversation = conversation
        self.seq = seq
        self.emoji = emoji
        self.clientID = clientID
    }
}

/// Move your receipt watermarks forwards: everything up to `delivered` reached you, up to `read` you read.
public struct ReceiptRequest: Codable, Sendable, Hashable {
    public var conversation: String?
    public var delivered: Int64?
    public var read: Int64?

    public init(conversation: String? = nil, delivered: Int64? = nil, read: Int64? = nil) {
        self.conversation = conversation
        self.delivered = delivered
        self.read = read
    }
}

/// Ask which of `users` are online.
public struct PresenceRequest: Codable, Sendable, Hashable {
    public var users: [String]
    public init(users: [String]) { self.users = users }
}

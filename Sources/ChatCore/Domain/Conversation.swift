/// Direct conversations have exactly two participants and no title; groups have a title and roles.
public enum ConversationKind: String, Sendable, Hashable, Codable, CaseIterable {
    case direct
    case group
}

/// A participant's power in a group. Admins manage membership and roles; moderators may remove
/// others' messages (a later feature); members chat. Both people in a direct conversation are members.
public enum Role: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case member
    case moderator
    case admin

    private var rank: Int {
        switch self {
        case .member: 0
        case .moderator: 1
        case .admin: 2
        }
    }
    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }
}

/// One person's membership in a conversation.
public struct Participant: Sendable, Hashable {
    public var user: UserID
    public var role: Role
    public var joinedAt: Timestamp

    public init(user: UserID, role: Role, joinedAt: Timestamp) {
        self.user = user
        self.role = role
        self.joinedAt = joinedAt
    }
}

/// A conversation as the store keeps it.
///
/// Guarantees (kept by ``ConversationRules`` and the stores): a direct conversation has exactly two
/// distinct participants; a group has a title; `lastSeq` is the seq of the newest stored entry (0 when
/// none); `lastActivityAt` is the creation time or the newest message's time.
public struct Conversation: Sendable, Hashable {
    public var id: ConversationID
    public var kind: ConversationKind
    public var title: String?
    public var workspace: WorkspaceID?
    public var createdBy: UserID
    public var createdAt: Timestamp
    public var lastSeq: Seq
    public var lastActivityAt: Timestamp
    public var participants: [Participant]

    public init(
        id: ConversationID, kind: ConversationKind, title: String?, workspace: WorkspaceID?, createdBy: UserID,
        createdAt: Timestamp, lastSeq: Seq, lastActivityAt: Timestamp, participants: [Participant]
    ) {
        self.id = id
        self.kind = kind
        self.title = title
        self.workspace = workspace
        self.createdBy = createdBy
        self.createdAt = createdAt
        self.lastSeq = lastSeq
        self.lastActivityAt = lastActivityAt
        self.participants = participants
    }

    /// The participant entry for `user`, when they are one.
    public func participant(_ user: UserID) -> Participant? {
        participants.first { $0.user == user }
    }

    /// True when `user` is a current participant.
    public func isParticipant(_ user: UserID) -> Bool { participant(user) != nil }
}

/// A conversation as it appears in a user's list: the conversation and its newest message.
public struct ConversationSummary: Sendable, Hashable {
    public var conversation: Conversation
    public var lastMessage: Message?

    public init(conversation: Conversation, lastMessage: Message?) {
        self.conversation = conversation
        self.lastMessage = lastMessage
    }
}

/// Where a page of a user's conversation list starts: strictly after this (activity, id) position in
/// the order "most recent activity first, then id descending".
public struct ConversationCursor: Sendable, Hashable {
    public var lastActivityAt: Timestamp
    public var id: ConversationID

    public init(lastActivityAt: Timestamp, id: ConversationID) {
        self.lastActivityAt = lastActivityAt
        self.id = id
    }

    /// The cursor's wire form: `<milliseconds>.<conversation id>`; opaque to clients.
    public var token: String { "\(lastActivityAt.milliseconds).\(id.rawValue)" }

    /// Parses ``token``; nil when it is not one.
    public init?(token: String) {
        guard let dot = token.firstIndex(of: "."),
            let millis = Int64(token[..<dot]),
            let id = ConversationID(String(token[token.index(after: dot)...]))
        else { return nil }
        self.init(lastActivityAt: Timestamp(milliseconds: millis), id: id)
    }
}

/// One page of a list, with the cursor of the next page when there is one.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

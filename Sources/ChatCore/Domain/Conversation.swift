/// Direct conversations have exactly two participants and no title; groups have a title and roles;
/// a support conversation belongs to a support request: its customer, and the agent holding it (as
/// admin), with membership that follows the request.
public enum ConversationKind: String, Sendable, Hashable, Codable, CaseIterable {
    case direct
    case group
    case support
}

/// A participant's power in a group. Admins manage membership, roles and closing; moderators may
/// delete others' messages; members chat. Both people in a direct conversation are members.
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

/// One person's membership in a conversation, with their receipt watermarks.
///
/// Guarantees (kept by the stores): `readSeq <= deliveredSeq <= ` the conversation's `lastSeq`, and
/// neither watermark ever moves backwards. A participant added to a conversation starts with both at
/// the conversation's `lastSeq` then: history from before they joined is readable but not unread.
public struct Participant: Sendable, Hashable {
    public var user: UserID
    public var role: Role
    public var joinedAt: Timestamp
    /// Every entry up to this seq reached one of the user's devices.
    public var deliveredSeq: Seq
    /// The user has read every entry up to this seq.
    public var readSeq: Seq
    /// The user archived the conversation for themself (a new post un-archives it).
    public var archived: Bool

    public init(user: UserID, role: Role, joinedAt: Timestamp, deliveredSeq: Seq = 0, readSeq: Seq = 0, archived: Bool = false) {
        self.user = user
        self.role = role
        self.joinedAt = joinedAt
        self.deliveredSeq = deliveredSeq
        self.readSeq = readSeq
        self.archived = archived
    }
}

/// A user's position in one conversation: what a connecting node needs to relay and resume.
public struct Membership: Sendable, Hashable {
    /// The conversation's newest seq.
    public var lastSeq: Seq
    /// The user's delivered watermark: on connect, entries after it are pushed.
    public var deliveredSeq: Seq

    public init(lastSeq: Seq, deliveredSeq: Seq) {
        self.lastSeq = lastSeq
        self.deliveredSeq = deliveredSeq
    }
}

/// Where a participant's receipt watermarks stand after a mark, and whether the mark moved them.
public struct Watermarks: Sendable, Hashable {
    public var deliveredSeq: Seq
    public var readSeq: Seq
    public var moved: Bool

    public init(deliveredSeq: Seq, readSeq: Seq, moved: Bool) {
        self.deliveredSeq = deliveredSeq
        self.readSeq = readSeq
        self.moved = moved
    }
}

/// A conversation as the store keeps it.
///
/// Guarantees (kept by ``ConversationRules`` and the stores): a direct conversation has exactly two
/// distinct participants; a group has a title; `lastSeq` is the seq of the newest stored entry (0 when
/// none); `lastActivityAt` is the creation time or the newest message's time; once `closedAt` is set
/// nothing more can be posted.
public struct Conversation: Sendable, Hashable {
    public var id: ConversationID
    public var kind: ConversationKind
    public var title: String?
    public var workspace: WorkspaceID?
    public var createdBy: UserID
    public var createdAt: Timestamp
    public var lastSeq: Seq
    public var lastActivityAt: Timestamp
    public var closedAt: Timestamp?
    public var participants: [Participant]

    public init(
        id: ConversationID, kind: ConversationKind, title: String?, workspace: WorkspaceID?, createdBy: UserID,
        createdAt: Timestamp, lastSeq: Seq, lastActivityAt: Timestamp, closedAt: Timestamp? = nil, participants: [Participant]
    ) {
        self.closedAt = closedAt
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

/// A conversation as it appears in one user's list: the conversation, its newest post, and the
/// viewer's own state (unread posts from others after their read watermark, archived for them).
public struct ConversationSummary: Sendable, Hashable {
    public var conversation: Conversation
    public var lastMessage: Message?
    public var unread: Int
    public var archived: Bool

    public init(conversation: Conversation, lastMessage: Message?, unread: Int = 0, archived: Bool = false) {
        self.conversation = conversation
        self.lastMessage = lastMessage
        self.unread = unread
        self.archived = archived
    }
}

/// A conversation's activity, the same for every participant: its newest entry's seq, the time of
/// its newest post (or its creation), and that post as it is now (edited or deleted), the preview.
/// What the node caches per conversation.
public struct ConversationActivity: Sendable, Hashable {
    public var lastSeq: Seq
    public var lastActivityAt: Timestamp
    /// The newest post, without its reactions; nil when nothing was posted yet.
    public var lastPost: Message?

    public init(lastSeq: Seq, lastActivityAt: Timestamp, lastPost: Message?) {
        self.lastSeq = lastSeq
        self.lastActivityAt = lastActivityAt
        self.lastPost = lastPost
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

    /// Parses ``token``; nil when it is not one. The dot is found among Unicode scalars, not
    /// Characters: a combining mark after it would otherwise fuse with it into one Character.
    public init?(token: String) {
        let scalars = token.unicodeScalars
        guard let dot = scalars.firstIndex(of: "."),
            let millis = Int64(String(scalars[..<dot])),
            let id = ConversationID(String(scalars[scalars.index(after: dot)...]))
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

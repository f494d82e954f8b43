/// The rules of conversations and messages, as pure functions over values. No I/O: the chat service
/// loads what a rule needs, asks the rule, then writes.
public enum ConversationRules {
    /// The key that makes a direct conversation unique per unordered pair of users and workspace; every
    /// store keeps it unique.
    public static func directKey(between first: UserID, and second: UserID, workspace: WorkspaceID?) -> String {
        let pair = [first.rawValue, second.rawValue].sorted()
        return "\(workspace?.rawValue ?? "")|\(pair[0])|\(pair[1])"
    }

    /// A direct conversation needs another person.
    public static func checkDirect(creator: UserID, other: UserID) throws(ChatError) {
        guard creator != other else { throw .validation("a direct conversation needs another user") }
    }

    /// A group needs a non-empty title and at least one other person; returns the title without
    /// surrounding whitespace and the distinct others.
    public static func checkGroup(creator: UserID, title: String, others: [UserID], limits: Limits) throws(ChatError)
        -> (title: String, others: [UserID])
    {
        try StoredText.check(title, field: "title")
        // Characters are code points, counted as sent, as JSON Schema's maxLength counts them.
        guard title.unicodeScalars.count <= limits.maxTitleLength else {
            throw .validation("title is longer than \(limits.maxTitleLength) characters")
        }
        let trimmed = title.trimmingWhitespace()
        guard !trimmed.isEmpty else { throw .validation("a group needs a title") }
        var seen: Set<UserID> = [creator]
        let distinct = others.filter { seen.insert($0).inserted }
        guard !distinct.isEmpty else { throw .validation("a group needs at least two participants") }
        guard distinct.count + 1 <= limits.maxGroupParticipants else {
            throw .validation("a group holds at most \(limits.maxGroupParticipants) participants")
        }
        return (trimmed, distinct)
    }

    /// The caller must be a participant; anyone else learns nothing, not even that it exists.
    public static func visible(_ conversation: Conversation?, to user: UserID) throws(ChatError) -> Conversation {
        guard let conversation, conversation.isParticipant(user) else {
            throw .notFound("no such conversation")
        }
        return conversation
    }

    /// Only admins of a group change its membership or roles.
    public static func checkManage(_ conversation: Conversation, by user: UserID) throws(ChatError) {
        try checkMembershipIsManaged(conversation)
        guard conversation.participant(user)?.role == .admin else {
            throw .forbidden("only an admin can change participants")
        }
    }

    /// Only a group's membership changes by request: a direct conversation's is fixed, a support
    /// conversation's follows its request.
    static func checkMembershipIsManaged(_ conversation: Conversation) throws(ChatError) {
        switch conversation.kind {
        case .group: return
        case .direct: throw .conflict("a direct conversation's membership is fixed")
        case .support: throw .conflict("a support conversation's membership follows its request")
        }
    }

    /// Who to add: the users not yet in the group, within the size limit.
    public static func usersToAdd(_ users: [UserID], to conversation: Conversation, limits: Limits) throws(ChatError)
        -> [UserID]
    {
        guard !users.isEmpty else { throw .validation("name at least one user to add") }
        var seen = Set(conversation.participants.map(\.user))
        let fresh = users.filter { seen.insert($0).inserted }
        guard conversation.participants.count + fresh.count <= limits.maxGroupParticipants else {
            throw .validation("a group holds at most \(limits.maxGroupParticipants) participants")
        }
        return fresh
    }

    /// Removing `user` (by an admin, or by themself when leaving). The group must keep an admin: when the
    /// last admin goes, the longest-standing remaining participant becomes admin; returns that promotion.
    public static func removal(of user: UserID, from conversation: Conversation) throws(ChatError) -> UserID? {
        try checkMembershipIsManaged(conversation)
        guard let leaving = conversation.participant(user) else { throw .notFound("no such participant") }
        let remaining = conversation.participants.filter { $0.user != user }
        guard leaving.role == .admin, !remaining.contains(where: { $0.role == .admin }) else { return nil }
        return remaining.min { ($0.joinedAt, $0.user) < ($1.joinedAt, $1.user) }?.user
    }

    /// An admin changes a participant's role; the group must keep at least one admin.
    public static func checkRoleChange(of user: UserID, to role: Role, in conversation: Conversation, by caller: UserID)
        throws(ChatError)
    {
        try checkManage(conversation, by: caller)
        guard let target = conversation.participant(user) else { throw .notFound("no such participant") }
        if target.role == .admin, role != .admin {
            let admins = conversation.participants.filter { $0.role == .admin }.count
            guard admins > 1 else { throw .conflict("a group must keep at least one admin") }
        }
    }

    /// A send must come from a participant, with a client-sendable kind and content within the limits
    /// that a store can keep exactly (``StoredText``). `metadataBytes` is the metadata's JSON size.
    public static func checkSend(
        kind: MessageKind, content: String, metadata: JSONValue?, metadataBytes: Int, limits: Limits
    ) throws(ChatError) {
        guard kind != .system else { throw .validation("clients cannot send system messages") }
        try StoredText.check(content, field: "content")
        try StoredText.check(metadata)
        guard content.utf8.count <= limits.maxContentBytes else {
            throw .validation("content is larger than \(limits.maxContentBytes) bytes")
        }
        guard metadataBytes <= limits.maxMetadataBytes else {
            throw .validation("metadata is larger than \(limits.maxMetadataBytes) bytes")
        }
        if kind == .text, content.isEmpty { throw .validation("a text message needs content") }
    }

    /// Nothing can be posted to a closed conversation.
    public static func checkOpen(_ conversation: Conversation) throws(ChatError) {
        guard conversation.closedAt == nil else { throw .conflict("the conversation is closed") }
    }

    /// An edit, deletion or reaction on `target` by `user`: the target must be a post that was not
    /// deleted (a deletion may name a tombstone, so that a retried delete reaches the store, which
    /// answers it from its client id or with `notFound`); only its sender edits it; its sender, or a
    /// group's admins and moderators, delete it; anyone in the conversation reacts, with an emoji of 1
    /// to `maxReactionLength` characters.
    public static func checkAct(
        _ action: MessageAction, on target: Message?, in conversation: Conversation, by user: UserID, content: String,
        metadata: JSONValue?, metadataBytes: Int, limits: Limits
    ) throws(ChatError) {
        let isDelete = if case .delete = action { true } else { false }
        guard let target, target.action == .post, isDelete || !target.isDeleted else { throw .notFound("no such message") }
        try checkOpen(conversation)
        switch action {
        case .post:
            throw .validation("a post is sent, not acted on")
        case .edit:
            guard target.sender == user else { throw .forbidden("only the sender can edit a message") }
            // Whatever the post's kind, an edit replaces its content with some (to take a post back, delete it).
            guard !content.isEmpty else { throw .validation("an edit needs content") }
            try checkSend(kind: target.kind, content: content, metadata: metadata, metadataBytes: metadataBytes, limits: limits)
        case .delete:
            let role = conversation.participant(user)?.role ?? .member
            guard target.sender == user || (conversation.kind == .group && role >= .moderator) else {
                throw .forbidden("only the sender, an admin or a moderator can delete a message")
            }
        case .react(_, let emoji), .unreact(_, let emoji):
            guard Identifier.isValid(emoji, maxLength: limits.maxReactionLength) else {
                throw .validation("'emoji' must be 1 to \(limits.maxReactionLength) characters without spaces or control characters")
            }
        }
    }

    /// Closing: a group's admins, or the agent holding a support request (its conversation's admin).
    public static func checkClose(_ conversation: Conversation, by user: UserID) throws(ChatError) {
        guard conversation.kind != .direct, conversation.participant(user)?.role == .admin else {
            throw .forbidden("only an admin or the support agent can close a conversation")
        }
    }

    /// A history query's bounds must be seqs (`before` at least 1, `after` not negative). Bounds with
    /// no seq between them are a valid, empty range (a rule across two fields would be one JSON Schema
    /// cannot state, so generated clients could not check it); returns whether the range is empty.
    public static func checkHistory(_ query: HistoryQuery) throws(ChatError) -> Bool {
        if let before = query.before, before < 1 { throw .validation("before must be at least 1") }
        if let after = query.after, after < 0 { throw .validation("after must not be negative") }
        if let before = query.before, let after = query.after { return before - after <= 1 }
        return false
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}

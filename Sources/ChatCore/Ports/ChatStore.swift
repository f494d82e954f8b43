/// The durable store: conversations, participants and messages. The source of truth for ordering and
/// resume. Implemented by the embedded SQLite store and the PostgreSQL store; both pass
/// `StoreConformance` in ChatTesting.
///
/// Contract every implementation keeps:
/// - `append` assigns the next gap-free seq of the conversation in the same transaction that stores
///   the message and moves the conversation's `lastSeq` and `lastActivityAt`; concurrent appends to one
///   conversation never share or skip a seq.
/// - `append` is idempotent on (conversation, sender, client id): a repeat returns the stored message
///   with `created == false` and stores nothing.
/// - `append` of a post moves `lastActivityAt` and un-archives the conversation for every participant;
///   an edit, delete, react or unreact changes its target post in the same transaction, and fails with
///   `notFound` when the target is not a post or was deleted. Nothing is appended to a closed
///   conversation (`conflict`).
/// - Receipt watermarks only move forwards, never past `lastSeq`, and `readSeq <= deliveredSeq`.
/// - `createDirect` is idempotent on the unordered pair of users and the workspace.
/// - Failures are ``ChatError``s: `unavailable` when the database cannot be reached (retryable),
///   `notFound` for a missing conversation where one is required, `internal` otherwise.
/// - `append` checks the one permission a send needs, in the same transaction: the sender takes part
///   in the conversation (`notFound` otherwise, as for a missing one, and for a retry by one who left),
///   so that a send needs no read of its own first. It returns the entry, not the participants: the
///   cache depends on the conversation's one activity key, so nothing a send does grows with the group.
/// - Other methods do not check permissions: the chat service applies ``ConversationRules`` first.
public protocol ChatStore: Sendable {
    /// Returns the direct conversation between the two users in `workspace`, creating it when missing.
    func createDirect(
        id: ConversationID, between creator: UserID, and other: UserID, workspace: WorkspaceID?, at time: Timestamp
    ) async throws -> (conversation: Conversation, created: Bool)

    /// Stores a new group: the creator as admin, the others as members.
    func createGroup(
        id: ConversationID, title: String, creator: UserID, others: [UserID], workspace: WorkspaceID?, at time: Timestamp
    ) async throws -> Conversation

    /// The conversation with its participants, or nil.
    func conversation(_ id: ConversationID) async throws -> Conversation?

    /// A page of `user`'s conversations, most recent activity first, each with its newest message.
    func conversations(
        of user: UserID, workspace: WorkspaceID?, after cursor: ConversationCursor?, limit: Int
    ) async throws -> Page<ConversationSummary>

    /// The conversation's activity (last seq, last activity, newest post as list previews show it), or nil.
    func activity(of id: ConversationID) async throws -> ConversationActivity?

    /// Every conversation each of `users` takes part in, with its last seq and the user's delivered
    /// watermark (a connecting user's node subscribes to these, relays what comes after the last seq,
    /// and pushes what lies between the watermark and it), read together: the connects a node
    /// registers at once cost one read. A user in no conversation has no entry.
    func memberships(of users: Set<UserID>) async throws -> [UserID: [ConversationID: Membership]]

    /// Everyone who shares at least one conversation with `user`, without `user`.
    func contacts(of user: UserID) async throws -> Set<UserID>

    /// Adds users with `role` (users already present are left as they are); returns the updated conversation.
    func addParticipants(_ users: [UserID], role: Role, to id: ConversationID, at time: Timestamp) async throws
        -> Conversation

    /// Removes `user`, and promotes `promote` to admin in the same transaction when given.
    func removeParticipant(_ user: UserID, from id: ConversationID, promote: UserID?) async throws -> Conversation

    /// Sets `user`'s role; returns the updated conversation.
    func setRole(_ role: Role, of user: UserID, in id: ConversationID) async throws -> Conversation

    /// Stores a message with the next seq (see the contract above). `placed` is called at most once, as
    /// soon as the draft has its place in the store's line, before it is stored: drafts placed one after
    /// the other are stored in that order. An append that ends without calling it (refused before it
    /// had a place) is placed at its end. A connection that
    /// pipelines its sends reads the next one then, so its sends are stored in the order sent while
    /// their commits overlap.
    func append(_ draft: MessageDraft, placed: @escaping @Sendable () -> Void) async throws -> AppendResult

    /// A slice of a conversation's entries in ascending seq order, posts as they are now.
    func messages(in id: ConversationID, _ query: HistoryQuery) async throws -> HistoryPage

    /// One entry, or nil.
    func message(_ seq: Seq, in id: ConversationID) async throws -> Message?

    /// Moves `user`'s watermarks forwards to `delivered` and `read` (a read also counts as delivered),
    /// clamped to the conversation's last seq; `notFound` when `user` is not a participant.
    func markWatermarks(of user: UserID, in id: ConversationID, delivered: Seq?, read: Seq?) async throws -> Watermarks

    /// Archives or un-archives the conversation for `user` alone; `notFound` when not a participant.
    func setArchived(_ archived: Bool, for user: UserID, in id: ConversationID) async throws

    /// Closes the conversation: nothing can be posted after, and it is archived for every participant.
    /// Closing a closed conversation changes nothing. Returns the conversation as it is now.
    func close(_ id: ConversationID, at time: Timestamp) async throws -> Conversation
}

extension ChatStore {
    /// Every conversation `user` takes part in (``memberships(of:)-(Set<UserID>)`` for one user).
    public func memberships(of user: UserID) async throws -> [ConversationID: Membership] {
        try await memberships(of: [user])[user] ?? [:]
    }

    /// Stores a message with the next seq, for a caller that does not pipeline.
    public func append(_ draft: MessageDraft) async throws -> AppendResult {
        try await append(draft, placed: {})
    }
}

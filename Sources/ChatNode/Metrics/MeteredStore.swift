import ChatCore

/// A store that times every call into `switchboard_store_seconds{op}` and passes it on unchanged, so
/// store latency is measured the same way whatever the engine.
public struct MeteredStore: ChatStore, SupportStore {
    let base: any ChatStore & SupportStore
    let metrics: NodeMetrics

    public init(_ base: any ChatStore & SupportStore, metrics: NodeMetrics) {
        self.base = base
        self.metrics = metrics
    }

    public func createDirect(id: ConversationID, between creator: UserID, and other: UserID, workspace: WorkspaceID?, at time: Timestamp) async throws -> (conversation: Conversation, created: Bool) {
        try await metrics.timeStore("createDirect") { try await base.createDirect(id: id, between: creator, and: other, workspace: workspace, at: time) }
    }

    public func createGroup(id: ConversationID, title: String, creator: UserID, others: [UserID], workspace: WorkspaceID?, at time: Timestamp) async throws -> Conversation {
        try await metrics.timeStore("createGroup") { try await base.createGroup(id: id, title: title, creator: creator, others: others, workspace: workspace, at: time) }
    }

    public func conversation(_ id: ConversationID) async throws -> Conversation? {
        try await metrics.timeStore("conversation") { try await base.conversation(id) }
    }

    public func conversations(of user: UserID, workspace: WorkspaceID?, after cursor: ConversationCursor?, limit: Int) async throws -> Page<ConversationSummary> {
        try await metrics.timeStore("conversations") { try await base.conversations(of: user, workspace: workspace, after: cursor, limit: limit) }
    }

    public func activity(of id: ConversationID) async throws -> ConversationActivity? {
        try await metrics.timeStore("activity") { try await base.activity(of: id) }
    }

    public func memberships(of users: Set<UserID>) async throws -> [UserID: [ConversationID: Membership]] {
        try await metrics.timeStore("memberships") { try await base.memberships(of: users) }
    }

    public func contacts(of user: UserID) async throws -> Set<UserID> {
        try await metrics.timeStore("contacts") { try await base.contacts(of: user) }
    }

    public func addParticipants(_ users: [UserID], role: Role, to id: ConversationID, at time: Timestamp) async throws -> Conversation {
        try await metrics.timeStore("addParticipants") { try await base.addParticipants(users, role: role, to: id, at: time) }
    }

    public func removeParticipant(_ user: UserID, from id: ConversationID, promote: UserID?) async throws -> Conversation {
        try await metrics.timeStore("removeParticipant") { try await base.removeParticipant(user, from: id, promote: promote) }
    }

    public func setRole(_ role: Role, of user: UserID, in id: ConversationID) async throws -> Conversation {
        try await metrics.timeStore("setRole") { try await base.setRole(role, of: user, in: id) }
    }

    public func append(_ draft: MessageDraft, placed: @escaping @Sendable () -> Void) async throws -> AppendResult {
        try await metrics.timeStore("append") { try await base.append(draft, placed: placed) }
    }

    public func messages(in id: ConversationID, _ query: HistoryQuery) async throws -> HistoryPage {
        try await metrics.timeStore("messages") { try await base.messages(in: id, query) }
    }

    public func message(_ seq: Seq, in id: ConversationID) async throws -> Message? {
        try await metrics.timeStore("message") { try await base.message(seq, in: id) }
    }

    public func markWatermarks(of user: UserID, in id: ConversationID, delivered: Seq?, read: Seq?) async throws -> Watermarks {
        try await metrics.timeStore("markWatermarks") { try await base.markWatermarks(of: user, in: id, delivered: delivered, read: read) }
    }

    public func setArchived(_ archived: Bool, for user: UserID, in id: ConversationID) async throws {
        try await metrics.timeStore("setArchived") { try await base.setArchived(archived, for: user, in: id) }
    }

    public func close(_ id: ConversationID, at time: Timestamp) async throws -> Conversation {
        try await metrics.timeStore("close") { try await base.close(id, at: time) }
    }

    public func openSupportRequest(_ opening: SupportOpening) async throws -> (request: SupportRequest, conversation: Conversation, created: Bool) {
        try await metrics.timeStore("openSupportRequest") { try await base.openSupportRequest(opening) }
    }

    public func waitingSupportRequests(in workspace: WorkspaceID, limit: Int) async throws -> [SupportRequest] {
        try await metrics.timeStore("waitingSupportRequests") { try await base.waitingSupportRequests(in: workspace, limit: limit) }
    }

    public func claimSupportRequest(_ id: SupportRequestID, by agent: UserID, at time: Timestamp) async throws -> SupportClaimOutcome {
        try await metrics.timeStore("claimSupportRequest") { try await base.claimSupportRequest(id, by: agent, at: time) }
    }

    public func supportRequest(_ id: SupportRequestID) async throws -> SupportRequest? {
        try await metrics.timeStore("supportRequest") { try await base.supportRequest(id) }
    }

    public func supportRequest(for conversation: ConversationID) async throws -> SupportRequest? {
        try await metrics.timeStore("supportRequest") { try await base.supportRequest(for: conversation) }
    }

    public func requeueSupportRequests(claimedBy agent: UserID) async throws -> [(request: SupportRequest, conversation: Conversation)] {
        try await metrics.timeStore("requeueSupportRequests") { try await base.requeueSupportRequests(claimedBy: agent) }
    }
}

/// Durable support requests, kept in the same database as conversations (a claim and the agent's
/// joining the conversation are one transaction). Implemented by the embedded SQLite store and the
/// PostgreSQL store; both pass `SupportStoreConformance` in ChatTesting.
///
/// Contract every implementation keeps:
/// - `openSupportRequest` stores the request (waiting), its support conversation (the customer as its
///   only participant, the subject as title) and the description as its first post, in one
///   transaction. While the customer has an open (waiting or claimed) request in the workspace, it
///   returns that one with `created == false` and stores nothing.
/// - `claimSupportRequest` is atomic: of any number of concurrent claims of a waiting request exactly
///   one wins; it makes the request claimed and adds the agent to the conversation as admin. A claim by
///   the agent who holds it returns `.held` and changes nothing; any other claim of a claimed request
///   returns `.taken` naming the holder. A closed request fails with `conflict`, a missing one with
///   `notFound`.
/// - The agent's first post in the conversation (through `ChatStore.append`) sets `answeredAt`.
/// - `requeueSupportRequests` puts back in the queue every request the agent holds without having
///   replied, and removes the agent from those conversations, in one transaction.
/// - Closing the conversation (`ChatStore.close`) closes its request, which frees the customer to open
///   another in that workspace.
public protocol SupportStore: Sendable {
    func openSupportRequest(_ opening: SupportOpening) async throws
        -> (request: SupportRequest, conversation: Conversation, created: Bool)

    /// The workspace's waiting requests, oldest first.
    func waitingSupportRequests(in workspace: WorkspaceID, limit: Int) async throws -> [SupportRequest]

    func claimSupportRequest(_ id: SupportRequestID, by agent: UserID, at time: Timestamp) async throws -> SupportClaimOutcome

    /// One request, or nil.
    func supportRequest(_ id: SupportRequestID) async throws -> SupportRequest?

    /// The request a support conversation belongs to, or nil.
    func supportRequest(for conversation: ConversationID) async throws -> SupportRequest?

    /// Requeues `agent`'s unanswered requests (see the contract); returns each with its conversation as
    /// it is now.
    func requeueSupportRequests(claimedBy agent: UserID) async throws -> [(request: SupportRequest, conversation: Conversation)]
}

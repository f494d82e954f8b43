/// The support desk's rules, as pure functions over values.
///
/// Agents: a token makes its user an agent of workspace `w` with the role `agent:w` (the identity
/// provider decides who staffs a desk, as it decides who the user is).
public enum SupportRules {
    /// The key every store keeps unique while a request is open: one open request per customer per workspace.
    public static func openKey(of customer: UserID, in workspace: WorkspaceID) -> String {
        "\(workspace.rawValue)|\(customer.rawValue)"
    }

    /// The role prefix that makes a user an agent of a workspace.
    public static let agentRolePrefix = "agent:"

    /// The workspaces whose queue `principal` staffs.
    public static func agentWorkspaces(of principal: Principal) -> Set<WorkspaceID> {
        Set(principal.roles.compactMap { role in
            guard role.hasPrefix(agentRolePrefix) else { return nil }
            return WorkspaceID(String(role.dropFirst(agentRolePrefix.count)))
        })
    }

    /// Only the workspace's agents see its queue and claim its requests; to anyone else a request of
    /// that workspace does not exist.
    public static func checkAgent(_ principal: Principal, of workspace: WorkspaceID) throws(ChatError) {
        guard agentWorkspaces(of: principal).contains(workspace) else {
            throw .forbidden("only the workspace's support agents can do this")
        }
    }

    /// Opening: an optional subject (trimmed, within the title limit) and a description that is a
    /// valid message. Returns the subject to store.
    public static func checkOpen(subject: String?, kind: MessageKind, content: String, metadata: JSONValue?, metadataBytes: Int, limits: Limits)
        throws(ChatError) -> String?
    {
        try ConversationRules.checkSend(kind: kind, content: content, metadata: metadata, metadataBytes: metadataBytes, limits: limits)
        guard let subject else { return nil }
        try StoredText.check(subject, field: "subject")
        guard subject.unicodeScalars.count <= limits.maxTitleLength else {
            throw .validation("subject is longer than \(limits.maxTitleLength) characters")
        }
        let trimmed = subject.trimmingWhitespace()
        return trimmed.isEmpty ? nil : trimmed
    }

    /// Whether the unanswered requests of an agent who went offline go back to the queue at `now`:
    /// only when the agent is still offline and has been for `after` (a later disconnect schedules
    /// its own check).
    public static func shouldRequeue(agentOnline: Bool, lastSeen: Timestamp?, now: Timestamp, after: Duration) -> Bool {
        guard !agentOnline else { return false }
        guard let lastSeen else { return true }
        return now.milliseconds - lastSeen.milliseconds >= after.wholeMilliseconds
    }
}

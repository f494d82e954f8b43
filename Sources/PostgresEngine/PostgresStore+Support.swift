import ChatCore
import Logging
import PostgresNIO

/// The support desk in PostgreSQL. A claim is one conditional UPDATE: of concurrent claims, each waits for
/// the row lock and re-checks `status = 'waiting'` on the row as the winner left it, so exactly one wins.
extension PostgresStore: SupportStore {
    static let supportColumns =
        "s.id, s.workspace, s.customer, s.conversation_id, s.subject, s.status, s.agent, s.created_at, s.claimed_at, s.answered_at, s.closed_at"

    public func openSupportRequest(_ opening: SupportOpening) async throws
        -> (request: SupportRequest, conversation: Conversation, created: Bool)
    {
        let metadata = try opening.description.metadata.map { try Self.encodeJSON($0) }
        let openKey = SupportRules.openKey(of: opening.customer, in: opening.workspace)
        let time = opening.description.createdAt.milliseconds
        // Two opens by one customer at once: the second's insert hits the open key's unique index; its retry
        // finds the first one's request.
        do {
            return try await open(opening, openKey: openKey, metadata: metadata, at: time)
        } catch let error as ChatError where error.code == .conflict {
            return try await open(opening, openKey: openKey, metadata: metadata, at: time)
        }
    }

    private func open(_ opening: SupportOpening, openKey: String, metadata: String?, at time: Int64) async throws
        -> (request: SupportRequest, conversation: Conversation, created: Bool)
    {
        let result: (SupportRequest, Conversation, Bool) = try await transaction { [logger] db in
            let existing = try await db.run(
                "SELECT \(unescaped: Self.supportColumns) FROM support_requests s WHERE s.open_key = \(openKey)", logger)
            if let row = existing.first {
                let request = try Self.decodeSupportRequest(row.makeRandomAccess())
                return (request, try await Self.loadConversation(request.conversation, db, logger)!, false)
            }
            try await db.run(
                """
                INSERT INTO conversations (id, kind, title, workspace, created_by, created_at, last_seq, last_activity_at)
                VALUES (\(opening.conversation.rawValue), 'support', \(opening.subject), \(opening.workspace.rawValue),
                        \(opening.customer.rawValue), \(time), 0, \(time))
                """, logger)
            try await Self.insertParticipants(
                [opening.customer], role: .member, in: opening.conversation, at: opening.description.createdAt, db, logger)
            try await db.run(
                """
                INSERT INTO support_requests (id, workspace, customer, conversation_id, subject, status, created_at, open_key)
                VALUES (\(opening.id.rawValue), \(opening.workspace.rawValue), \(opening.customer.rawValue),
                        \(opening.conversation.rawValue), \(opening.subject), 'waiting', \(time), \(openKey))
                """, logger)
            _ = try await Self.append(opening.description, metadata: metadata, db, logger)
            let request = SupportRequest(
                id: opening.id, workspace: opening.workspace, customer: opening.customer, conversation: opening.conversation,
                subject: opening.subject, createdAt: opening.description.createdAt, state: .waiting)
            return (request, try await Self.loadConversation(opening.conversation, db, logger)!, true)
        }
        return (result.0, result.1, result.2)
    }

    public func waitingSupportRequests(in workspace: WorkspaceID, limit: Int) async throws -> [SupportRequest] {
        try await rows(
            """
            SELECT \(unescaped: Self.supportColumns) FROM support_requests s
            WHERE s.workspace = \(workspace.rawValue) AND s.status = 'waiting'
            ORDER BY s.created_at, s.id LIMIT \(limit)
            """
        ).map { try Self.decodeSupportRequest($0.makeRandomAccess()) }
    }

    public func claimSupportRequest(_ id: SupportRequestID, by agent: UserID, at time: Timestamp) async throws -> SupportClaimOutcome {
        try await transaction { [logger] db in
            // The claim and the agent's joining as admin (watermarks at the current end) in one statement.
            let claimed = try await db.run(
                """
                WITH claimed AS (
                    UPDATE support_requests s
                    SET status = 'claimed', agent = \(agent.rawValue), claimed_at = \(time.milliseconds), answered_at = NULL
                    WHERE s.id = \(id.rawValue) AND s.status = 'waiting'
                    RETURNING \(unescaped: Self.supportColumns)
                ), joined AS (
                    INSERT INTO participants (conversation_id, user_id, role, joined_at, delivered_seq, read_seq)
                    SELECT c.id, \(agent.rawValue), 'admin', \(time.milliseconds), 0, 0
                    FROM claimed JOIN conversations c ON c.id = claimed.conversation_id
                    ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = 'admin'
                )
                SELECT * FROM claimed
                """, logger)
            if let row = claimed.first {
                let request = try Self.decodeSupportRequest(row.makeRandomAccess())
                return .won(request, try await Self.loadConversation(request.conversation, db, logger)!)
            }
            let rows = try await db.run(
                "SELECT \(unescaped: Self.supportColumns) FROM support_requests s WHERE s.id = \(id.rawValue)", logger)
            guard let row = rows.first else { throw ChatError.notFound("no such support request") }
            let request = try Self.decodeSupportRequest(row.makeRandomAccess())
            switch request.state {
            case .closed: throw ChatError.conflict("the support request is closed")
            case .claimed(let claim) where claim.agent == agent:
                return .held(request, try await Self.loadConversation(request.conversation, db, logger)!)
            default: return .taken(request)
            }
        }
    }

    public func supportRequest(_ id: SupportRequestID) async throws -> SupportRequest? {
        try await rows("SELECT \(unescaped: Self.supportColumns) FROM support_requests s WHERE s.id = \(id.rawValue)")
            .first.map { try Self.decodeSupportRequest($0.makeRandomAccess()) }
    }

    public func supportRequest(for conversation: ConversationID) async throws -> SupportRequest? {
        try await rows(
            "SELECT \(unescaped: Self.supportColumns) FROM support_requests s WHERE s.conversation_id = \(conversation.rawValue)"
        ).first.map { try Self.decodeSupportRequest($0.makeRandomAccess()) }
    }

    public func requeueSupportRequests(claimedBy agent: UserID) async throws -> [(request: SupportRequest, conversation: Conversation)] {
        let result: [(SupportRequest, Conversation)] = try await transaction { [logger] db in
            let rows = try await db.run(
                """
                WITH requeued AS (
                    UPDATE support_requests s SET status = 'waiting', agent = NULL, claimed_at = NULL
                    WHERE s.agent = \(agent.rawValue) AND s.status = 'claimed' AND s.answered_at IS NULL
                    RETURNING \(unescaped: Self.supportColumns)
                ), removed AS (
                    DELETE FROM participants p USING requeued
                    WHERE p.conversation_id = requeued.conversation_id AND p.user_id = \(agent.rawValue)
                )
                SELECT * FROM requeued
                """, logger)
            var result: [(SupportRequest, Conversation)] = []
            for row in rows {
                let request = try Self.decodeSupportRequest(row.makeRandomAccess())
                result.append((request, try await Self.loadConversation(request.conversation, db, logger)!))
            }
            return result
        }
        return result.map { (request: $0.0, conversation: $0.1) }
    }

    static func decodeSupportRequest(_ row: PostgresRandomAccessRow) throws -> SupportRequest {
        func time(_ name: String) throws -> Timestamp? { try row[name].decode(Int64?.self).map(Timestamp.init(milliseconds:)) }
        let state = SupportState(
            status: try row["status"].decode(String.self), agent: try row["agent"].decode(String?.self).map(UserID.init(trusted:)),
            claimedAt: try time("claimed_at"), answeredAt: try time("answered_at"), closedAt: try time("closed_at"))
        return SupportRequest(
            id: SupportRequestID(trusted: try row["id"].decode(String.self)),
            workspace: WorkspaceID(trusted: try row["workspace"].decode(String.self)),
            customer: UserID(trusted: try row["customer"].decode(String.self)),
            conversation: ConversationID(trusted: try row["conversation_id"].decode(String.self)),
            subject: try row["subject"].decode(String?.self),
            createdAt: try time("created_at") ?? Timestamp(milliseconds: 0),
            state: state)
    }
}

import ChatCore
import Foundation
import GRDB

/// The support desk on the embedded store. Every write is one transaction on the single writer, so a
/// claim's conditional update cannot interleave with another claim.
extension SQLiteStore: SupportStore {
    public func openSupportRequest(_ opening: SupportOpening) async throws
        -> (request: SupportRequest, conversation: Conversation, created: Bool)
    {
        let metadata = try opening.description.metadata.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        let openKey = SupportRules.openKey(of: opening.customer, in: opening.workspace)
        let time = opening.description.createdAt.milliseconds
        return try await write { db in
            if let row = try db.rows("SELECT * FROM support_requests WHERE open_key = ?", [openKey]).first {
                let request = Self.decodeSupportRequest(row)
                return (request, try Self.loadConversation(request.conversation, db)!, false)
            }
            try db.run(
                """
                INSERT INTO conversations (id, kind, title, workspace, created_by, created_at, last_seq, last_activity_at)
                VALUES (?, 'support', ?, ?, ?, ?, 0, ?)
                """,
                [opening.conversation.rawValue, opening.subject, opening.workspace.rawValue,
                 opening.customer.rawValue, time, time])
            try Self.insertParticipant(opening.customer, role: .member, in: opening.conversation, at: opening.description.createdAt, db)
            try db.run(
                """
                INSERT INTO support_requests (id, workspace, customer, conversation_id, subject, status, created_at, open_key)
                VALUES (?, ?, ?, ?, ?, 'waiting', ?, ?)
                """,
                [opening.id.rawValue, opening.workspace.rawValue, opening.customer.rawValue,
                 opening.conversation.rawValue, opening.subject, time, openKey])
            _ = try Self.append(opening.description, metadata: metadata, db)
            let request = SupportRequest(
                id: opening.id, workspace: opening.workspace, customer: opening.customer, conversation: opening.conversation,
                subject: opening.subject, createdAt: opening.description.createdAt, state: .waiting)
            return (request, try Self.loadConversation(opening.conversation, db)!, true)
        }
    }

    public func waitingSupportRequests(in workspace: WorkspaceID, limit: Int) async throws -> [SupportRequest] {
        try await read { db in
            try db.rows(
                "SELECT * FROM support_requests WHERE workspace = ? AND status = 'waiting' ORDER BY created_at, id LIMIT ?",
                [workspace.rawValue, Int64(limit)]
            ).map(Self.decodeSupportRequest)
        }
    }

    public func claimSupportRequest(_ id: SupportRequestID, by agent: UserID, at time: Timestamp) async throws -> SupportClaimOutcome {
        try await write { db in
            let claimed = try db.rows(
                """
                UPDATE support_requests SET status = 'claimed', agent = ?, claimed_at = ?, answered_at = NULL
                WHERE id = ? AND status = 'waiting' RETURNING *
                """,
                [agent.rawValue, time.milliseconds, id.rawValue])
            if let row = claimed.first {
                let request = Self.decodeSupportRequest(row)
                try Self.insertParticipant(agent, role: .admin, in: request.conversation, at: time, db)
                return .won(request, try Self.loadConversation(request.conversation, db)!)
            }
            guard let row = try db.rows("SELECT * FROM support_requests WHERE id = ?", [id.rawValue]).first else {
                throw ChatError.notFound("no such support request")
            }
            let request = Self.decodeSupportRequest(row)
            switch request.state {
            case .closed: throw ChatError.conflict("the support request is closed")
            case .claimed(let claim) where claim.agent == agent:
                return .held(request, try Self.loadConversation(request.conversation, db)!)
            default: return .taken(request)
            }
        }
    }

    public func supportRequest(_ id: SupportRequestID) async throws -> SupportRequest? {
        try await read { db in
            try db.rows("SELECT * FROM support_requests WHERE id = ?", [id.rawValue]).first.map(Self.decodeSupportRequest)
        }
    }

    public func supportRequest(for conversation: ConversationID) async throws -> SupportRequest? {
        try await read { db in
            try db.rows("SELECT * FROM support_requests WHERE conversation_id = ?", [conversation.rawValue])
                .first.map(Self.decodeSupportRequest)
        }
    }

    public func requeueSupportRequests(claimedBy agent: UserID) async throws -> [(request: SupportRequest, conversation: Conversation)] {
        try await write { db in
            let rows = try db.rows(
                """
                UPDATE support_requests SET status = 'waiting', agent = NULL, claimed_at = NULL
                WHERE agent = ? AND status = 'claimed' AND answered_at IS NULL RETURNING *
                """,
                [agent.rawValue])
            var result: [(request: SupportRequest, conversation: Conversation)] = []
            for request in rows.map(Self.decodeSupportRequest) {
                try db.run(
                    "DELETE FROM participants WHERE conversation_id = ? AND user_id = ?",
                    [request.conversation.rawValue, agent.rawValue])
                result.append((request, try Self.loadConversation(request.conversation, db)!))
            }
            return result
        }
    }

    static func decodeSupportRequest(_ row: Row) -> SupportRequest {
        func time(_ name: String) -> Timestamp? { (row[name] as Int64?).map(Timestamp.init(milliseconds:)) }
        let state = SupportState(
            status: (row["status"] as String?) ?? "", agent: (row["agent"] as String?).map(UserID.init(trusted:)),
            claimedAt: time("claimed_at"), answeredAt: time("answered_at"), closedAt: time("closed_at"))
        return SupportRequest(
            id: SupportRequestID(trusted: row["id"]),
            workspace: WorkspaceID(trusted: row["workspace"]),
            customer: UserID(trusted: row["customer"]),
            conversation: ConversationID(trusted: row["conversation_id"]),
            subject: (row["subject"] as String?),
            createdAt: time("created_at")!,
            state: state)
    }
}

import ChatCore
import Foundation
import EventLoops
import GroupCommit
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO

/// The embedded ``ChatStore``: one SQLite database file in the node's data directory, in WAL mode.
///
/// Guarantees: every write runs as one transaction on the writer connection, one at a time, in arrival
/// order (``AsyncGate``), so seq assignment is gap-free; appends that arrive while the writer is busy
/// share its next transaction (group commit: one writer, so one key for all, at most `batching.batch`
/// a transaction; each append gets its own result, and a failure of one that wrote nothing leaves the
/// others' in place); reads use a second connection and see only committed data; every SQLite call
/// runs on NIO's thread pool, never on an event loop. Survives restarts: reopening the same directory
/// finds everything committed before.
public final class SQLiteStore: ChatStore {
    private let writer: SQLiteConnection
    private let reader: SQLiteConnection
    private let gate: AsyncGate
    private let logger: Logger
    private let appends: Batcher<PendingAppend, AppendResult>

    private init(
        writer: SQLiteConnection, reader: SQLiteConnection, maxWaiters: Int, batching: BatchLimits, appendWait: Duration,
        observeBatch: @escaping BatchObserver, logger: Logger
    ) {
        let gate = AsyncGate(maxWaiters: maxWaiters)
        self.writer = writer
        self.reader = reader
        self.gate = gate
        self.logger = logger
        self.appends = Batcher(
            maxBatch: batching.batch, maxWaiting: batching.waiting, maxWait: appendWait,
            schedule: eventLoopSchedule, observe: observeBatch
        ) { batch in
            await Self.append(batch) { body in try await Self.write(writer, gate, logger, body) }
        }
    }

    /// Opens (creating when missing) `chat.sqlite` in `directory` and migrates it. Appends are grouped
    /// by `batching`; one waits at most `appendWait` for its batch (then `unavailable`); `observeBatch`
    /// is told each batch's size.
    public static func open(
        directory: String, maxWaitingWrites: Int = 10_000, batching: BatchLimits = BatchLimits(), appendWait: Duration = .seconds(5),
        observeBatch: @escaping BatchObserver = { _ in }, logger: Logger
    ) async throws -> SQLiteStore {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = (directory as NSString).appendingPathComponent("chat.sqlite")
        let pool = NIOThreadPool.singleton
        let loop = MultiThreadedEventLoopGroup.singleton.any()
        let writer = try await SQLiteConnection.open(storage: .file(path: path), threadPool: pool, logger: logger, on: loop)
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON", "PRAGMA busy_timeout=5000"] {
            _ = try await writer.query(pragma)
        }
        try await migrate(writer)
        let reader = try await SQLiteConnection.open(storage: .file(path: path), threadPool: pool, logger: logger, on: loop)
        _ = try await reader.query("PRAGMA busy_timeout=5000")
        return SQLiteStore(
            writer: writer, reader: reader, maxWaiters: maxWaitingWrites, batching: batching, appendWait: appendWait,
            observeBatch: observeBatch, logger: logger)
    }

    /// Closes both connections; the store must not be used afterwards.
    public func close() async {
        try? await reader.close()
        try? await writer.close()
    }

    private static func migrate(_ db: SQLiteConnection) async throws {
        let version = try await db.query("PRAGMA user_version").first?.column("user_version")?.integer ?? 0
        for (index, steps) in SQLiteSchema.migrations.enumerated() where index >= version {
            _ = try await db.query("BEGIN IMMEDIATE")
            do {
                for step in steps { _ = try await db.query(step) }
                _ = try await db.query("PRAGMA user_version = \(index + 1)")
                _ = try await db.query("COMMIT")
            } catch {
                _ = try? await db.query("ROLLBACK")
                throw error
            }
        }
    }

    // MARK: Transactions

    func write<T: Sendable>(_ body: @Sendable @escaping (SQLiteConnection) async throws -> T) async throws -> T {
        try await Self.write(writer, gate, logger, body)
    }

    /// One transaction on `writer`, alone (through `gate`); errors mapped to ``ChatError``s.
    static func write<T: Sendable>(
        _ writer: SQLiteConnection, _ gate: AsyncGate, _ logger: Logger, _ body: @Sendable @escaping (SQLiteConnection) async throws -> T
    ) async throws -> T {
        do {
            return try await gate.run { [writer] in
                _ = try await writer.query("BEGIN IMMEDIATE")
                do {
                    let value = try await body(writer)
                    _ = try await writer.query("COMMIT")
                    return value
                } catch {
                    _ = try? await writer.query("ROLLBACK")
                    throw error
                }
            }
        } catch {
            throw map(error, logger)
        }
    }

    func read<T: Sendable>(_ body: @Sendable (SQLiteConnection) async throws -> T) async throws -> T {
        do {
            return try await body(reader)
        } catch {
            throw Self.map(error, logger)
        }
    }

    private static func map(_ error: any Error, _ logger: Logger) -> ChatError {
        if let chat = error as? ChatError { return chat }
        if let sqlite = error as? SQLiteError {
            switch sqlite.reason {
            case .busy, .locked, .busyTimeout, .ioError, .full, .cantOpen:
                logger.warning("sqlite unavailable", metadata: ["error": "\(sqlite)"])
                return .unavailable("the store is busy or unreachable; retry")
            case .constraint:
                return .conflict("the change conflicts with stored data")
            default: break
            }
        }
        logger.error("sqlite failure", metadata: ["error": "\(error)"])
        return .internal("store failure")
    }

    // MARK: Conversations

    public func createDirect(
        id: ConversationID, between creator: UserID, and other: UserID, workspace: WorkspaceID?, at time: Timestamp
    ) async throws -> (conversation: Conversation, created: Bool) {
        let key = ConversationRules.directKey(between: creator, and: other, workspace: workspace)
        let result: (Conversation, Bool) = try await write { db in
            let existing = try await db.query("SELECT id FROM conversations WHERE direct_key = ?", [.text(key)])
            if let found = existing.first?.column("id")?.string {
                return (try await Self.loadConversation(ConversationID(trusted: found), db)!, false)
            }
            _ = try await db.query(
                """
                INSERT INTO conversations (id, kind, title, workspace, created_by, created_at, last_seq, last_activity_at, direct_key)
                VALUES (?, 'direct', NULL, ?, ?, ?, 0, ?, ?)
                """,
                [.text(id.rawValue), workspace.sqlite, .text(creator.rawValue), .int(time.milliseconds),
                 .int(time.milliseconds), .text(key)]
            )
            for user in [creator, other] {
                try await Self.insertParticipant(user, role: .member, in: id, at: time, db)
            }
            return (try await Self.loadConversation(id, db)!, true)
        }
        return (result.0, result.1)
    }

    public func createGroup(
        id: ConversationID, title: String, creator: UserID, others: [UserID], workspace: WorkspaceID?, at time: Timestamp
    ) async throws -> Conversation {
        try await write { db in
            _ = try await db.query(
                """
                INSERT INTO conversations (id, kind, title, workspace, created_by, created_at, last_seq, last_activity_at)
                VALUES (?, 'group', ?, ?, ?, ?, 0, ?)
                """,
                [.text(id.rawValue), .text(title), workspace.sqlite, .text(creator.rawValue), .int(time.milliseconds),
                 .int(time.milliseconds)]
            )
            try await Self.insertParticipant(creator, role: .admin, in: id, at: time, db)
            for user in others where user != creator {
                try await Self.insertParticipant(user, role: .member, in: id, at: time, db)
            }
            return try await Self.loadConversation(id, db)!
        }
    }

    public func conversation(_ id: ConversationID) async throws -> Conversation? {
        try await read { db in try await Self.loadConversation(id, db) }
    }

    public func conversations(
        of user: UserID, workspace: WorkspaceID?, after cursor: ConversationCursor?, limit: Int
    ) async throws -> Page<ConversationSummary> {
        try await read { db in
            var sql = """
                SELECT c.*, \(Self.previewColumns),
                       p.archived AS my_archived,
                       (SELECT COUNT(*) FROM messages u
                        WHERE u.conversation_id = c.id AND u.seq > p.read_seq AND u.action = 'post'
                          AND u.deleted_at IS NULL AND u.sender <> p.user_id) AS my_unread
                FROM participants p
                JOIN conversations c ON c.id = p.conversation_id
                LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_post_seq
                WHERE p.user_id = ?
                """
            var binds: [SQLiteData] = [.text(user.rawValue)]
            if let workspace {
                sql += " AND c.workspace = ?"
                binds.append(.text(workspace.rawValue))
            }
            if let cursor {
                sql += " AND (c.last_activity_at < ? OR (c.last_activity_at = ? AND c.id < ?))"
                binds += [.int(cursor.lastActivityAt.milliseconds), .int(cursor.lastActivityAt.milliseconds),
                          .text(cursor.id.rawValue)]
            }
            sql += " ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?"
            binds.append(.int(Int64(limit + 1)))
            let rows = try await db.query(sql, binds)
            let pageRows = rows.prefix(limit)
            let ids = pageRows.map { ConversationID(trusted: $0.column("id")!.string!) }
            let participants = try await Self.loadParticipants(ids, db)
            let items = pageRows.map { row -> ConversationSummary in
                let conversation = Self.decodeConversation(row, participants: participants)
                var last: Message?
                if row.column("m_id")?.string != nil {
                    last = Self.decodeMessage(row, prefix: "m_", conversation: conversation.id)
                }
                return ConversationSummary(
                    conversation: conversation, lastMessage: last, unread: Int(row.column("my_unread")?.integer ?? 0),
                    archived: (row.column("my_archived")?.integer ?? 0) != 0)
            }
            let next = rows.count > limit
                ? items.last.map { ConversationCursor(lastActivityAt: $0.conversation.lastActivityAt, id: $0.conversation.id).token }
                : nil
            return Page(items: items, nextCursor: next)
        }
    }

    public func activity(of id: ConversationID) async throws -> ConversationActivity? {
        try await read { db in
            let rows = try await db.query(
                """
                SELECT c.last_seq, c.last_activity_at, \(Self.previewColumns)
                FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_post_seq
                WHERE c.id = ?
                """, [.text(id.rawValue)])
            guard let row = rows.first else { return nil }
            return ConversationActivity(
                lastSeq: Seq(row.column("last_seq")!.integer!),
                lastActivityAt: Timestamp(milliseconds: Int64(row.column("last_activity_at")!.integer!)),
                lastPost: row.column("m_id")?.string == nil ? nil : Self.decodeMessage(row, prefix: "m_", conversation: id))
        }
    }

    /// The newest post `m` of a conversation, each column prefixed `m_` (see ``decodeMessage``).
    private static let previewColumns = [
        "id", "seq", "sender", "client_id", "kind", "content", "metadata", "created_at", "action", "target_seq", "emoji",
        "edited_at", "deleted_at",
    ].map { "m.\($0) AS m_\($0)" }.joined(separator: ", ")

    public func memberships(of user: UserID) async throws -> [ConversationID: Membership] {
        try await read { db in
            let rows = try await db.query(
                """
                SELECT c.id, c.last_seq, p.delivered_seq FROM participants p JOIN conversations c ON c.id = p.conversation_id
                WHERE p.user_id = ?
                """,
                [.text(user.rawValue)])
            var result: [ConversationID: Membership] = [:]
            for row in rows {
                result[ConversationID(trusted: row.column("id")!.string!)] = Membership(
                    lastSeq: Seq(row.column("last_seq")!.integer!), deliveredSeq: Seq(row.column("delivered_seq")!.integer!))
            }
            return result
        }
    }

    public func contacts(of user: UserID) async throws -> Set<UserID> {
        try await read { db in
            let rows = try await db.query(
                """
                SELECT DISTINCT o.user_id FROM participants p JOIN participants o ON o.conversation_id = p.conversation_id
                WHERE p.user_id = ? AND o.user_id <> p.user_id
                """,
                [.text(user.rawValue)])
            return Set(rows.map { UserID(trusted: $0.column("user_id")!.string!) })
        }
    }

    public func addParticipants(_ users: [UserID], role: Role, to id: ConversationID, at time: Timestamp) async throws
        -> Conversation
    {
        try await write { db in
            guard try await Self.exists(id, db) else { throw ChatError.notFound("no such conversation") }
            for user in users {
                // A newcomer starts with both watermarks at the current last seq: nothing from before is unread.
                _ = try await db.query(
                    """
                    INSERT OR IGNORE INTO participants (conversation_id, user_id, role, joined_at, delivered_seq, read_seq)
                    SELECT id, ?, ?, ?, last_seq, last_seq FROM conversations WHERE id = ?
                    """,
                    [.text(user.rawValue), .text(role.rawValue), .int(time.milliseconds), .text(id.rawValue)]
                )
            }
            return try await Self.loadConversation(id, db)!
        }
    }

    public func removeParticipant(_ user: UserID, from id: ConversationID, promote: UserID?) async throws -> Conversation {
        try await write { db in
            guard try await Self.exists(id, db) else { throw ChatError.notFound("no such conversation") }
            _ = try await db.query(
                "DELETE FROM participants WHERE conversation_id = ? AND user_id = ?", [.text(id.rawValue), .text(user.rawValue)])
            if let promote {
                _ = try await db.query(
                    "UPDATE participants SET role = 'admin' WHERE conversation_id = ? AND user_id = ?",
                    [.text(id.rawValue), .text(promote.rawValue)])
            }
            return try await Self.loadConversation(id, db)!
        }
    }

    public func setRole(_ role: Role, of user: UserID, in id: ConversationID) async throws -> Conversation {
        try await write { db in
            guard try await Self.exists(id, db) else { throw ChatError.notFound("no such conversation") }
            _ = try await db.query(
                "UPDATE participants SET role = ? WHERE conversation_id = ? AND user_id = ?",
                [.text(role.rawValue), .text(id.rawValue), .text(user.rawValue)])
            return try await Self.loadConversation(id, db)!
        }
    }

    // MARK: Messages

    /// The writer (the embedded node's bottleneck: one at a time) checks that the sender takes part
    /// within the statements it runs anyway, by the participants' key: nothing per send grows with
    /// the group.
    public func append(_ draft: MessageDraft, placed: @escaping @Sendable () -> Void) async throws -> AppendResult {
        let metadata = try draft.metadata.map { try Self.encodeJSON($0) }
        return try await appends.submit(PendingAppend(draft: draft, metadata: metadata), placed: placed)
    }

    /// A draft and its metadata as JSON text, waiting for its batch.
    struct PendingAppend: Sendable {
        var draft: MessageDraft
        var metadata: String?
    }

    /// One batch of appends in one transaction, in arrival order. An append refused before it wrote
    /// anything (a ``ChatError``: not a participant, a closed conversation, a missing target) fails
    /// alone; anything else rolls the transaction back, and each append of a larger batch is then
    /// tried again in a transaction of its own, so one bad append never fails the others.
    static func append(
        _ batch: [PendingAppend], write: (@Sendable @escaping (SQLiteConnection) async throws -> [Result<AppendResult, any Error>]) async throws -> [Result<AppendResult, any Error>]
    ) async -> [Result<AppendResult, any Error>] {
        do {
            return try await write { db in
                var results: [Result<AppendResult, any Error>] = []
                for pending in batch {
                    do {
                        results.append(.success(try await Self.append(pending.draft, metadata: pending.metadata, db)))
                    } catch let refused as ChatError {
                        results.append(.failure(refused))
                    }
                }
                return results
            }
        } catch {
            guard batch.count > 1 else { return [.failure(error)] }
            var results: [Result<AppendResult, any Error>] = []
            for pending in batch {
                results.append(contentsOf: await append([pending], write: write))
            }
            return results
        }
    }

    /// The body of ``append(_:)``, inside the caller's transaction (its result names no participants):
    /// a post through ``post(_:metadata:_:)``, an action here. The sender must take part: the repeat
    /// lookup and the seq's update both require it, so a non-participant (or one who left, even
    /// retrying) gets `notFound`.
    static func append(_ draft: MessageDraft, metadata: String?, _ db: SQLiteConnection) async throws -> AppendResult {
        if draft.action == .post { return try await post(draft, metadata: metadata, db) }
        let conversation = draft.conversation.rawValue
        let sender = draft.sender.rawValue
        if let repeated = try await repeated(draft, db) { return repeated }
        var kind = draft.kind
        if let target = draft.action.target {
            let rows = try await db.query(
                "SELECT kind FROM messages WHERE conversation_id = ? AND seq = ? AND action = 'post' AND deleted_at IS NULL",
                [.text(conversation), .int(target)])
            guard let found = rows.first?.column("kind")?.string else { throw ChatError.notFound("no such message") }
            kind = MessageKind(rawValue: found) ?? .text
        }
        // An action (edit, delete, reaction) takes the next seq without moving the activity time.
        let member = "EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = conversations.id AND p.user_id = ?)"
        let updated = try await db.query(
            "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ? AND closed_at IS NULL AND \(member) RETURNING last_seq",
            [.text(conversation), .text(sender)])
        guard let seq = updated.first?.column("last_seq")?.integer else { try await refusal(draft, db) }
        let time = Int64(draft.createdAt.milliseconds)
        let content = draft.action.carriesContent ? draft.content : ""
        let entryMetadata = draft.action.carriesContent ? metadata : nil
        switch draft.action {
        case .post:
            throw ChatError.internal("a post is stored by post(_:metadata:_:)")
        case .edit(let target):
            _ = try await db.query(
                "UPDATE messages SET content = ?, metadata = ?, edited_at = ? WHERE conversation_id = ? AND seq = ?",
                [.text(draft.content), metadata.map { .text($0) } ?? .null, .int(time), .text(conversation), .int(target)])
        case .delete(let target):
            // The tombstone keeps its seq; its content, the content of its edits and its reactions go.
            _ = try await db.query(
                "UPDATE messages SET content = '', metadata = NULL, deleted_at = ? WHERE conversation_id = ? AND seq = ?",
                [.int(time), .text(conversation), .int(target)])
            _ = try await db.query(
                "UPDATE messages SET content = '', metadata = NULL WHERE conversation_id = ? AND action = 'edit' AND target_seq = ?",
                [.text(conversation), .int(target)])
            _ = try await db.query(
                "DELETE FROM reactions WHERE conversation_id = ? AND seq = ?", [.text(conversation), .int(target)])
        case .react(let target, let emoji):
            _ = try await db.query(
                "INSERT OR IGNORE INTO reactions (conversation_id, seq, emoji, user_id, created_at) VALUES (?, ?, ?, ?, ?)",
                [.text(conversation), .int(target), .text(emoji), .text(draft.sender.rawValue), .int(time)])
        case .unreact(let target, let emoji):
            _ = try await db.query(
                "DELETE FROM reactions WHERE conversation_id = ? AND seq = ? AND emoji = ? AND user_id = ?",
                [.text(conversation), .int(target), .text(emoji), .text(draft.sender.rawValue)])
        }
        _ = try await db.query(
            """
            INSERT INTO messages (conversation_id, seq, id, sender, client_id, kind, content, metadata, created_at,
                                  action, target_seq, emoji)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [.text(conversation), .int(Int64(seq)), .text(draft.id.rawValue), .text(draft.sender.rawValue),
             .text(draft.clientID.rawValue), .text(kind.rawValue), .text(content),
             entryMetadata.map { .text($0) } ?? .null, .int(time), .text(draft.action.name),
             draft.action.target.map { .int($0) } ?? .null, draft.action.emoji.map { .text($0) } ?? .null]
        )
        let message = Message(
            id: draft.id, conversation: draft.conversation, seq: Seq(seq), sender: draft.sender, clientID: draft.clientID,
            action: draft.action, kind: kind, content: content, metadata: draft.action.carriesContent ? draft.metadata : nil,
            createdAt: draft.createdAt)
        return AppendResult(message: message, created: true)
    }

    /// A post in one statement: the entry takes the conversation's next seq only where the sender takes
    /// part and the conversation is open, and a repeat of the sender's client id inserts nothing; the
    /// `messages_post` trigger does the rest (the seq, the activity time, unarchiving, a support agent's
    /// first reply). When nothing was inserted, it says why: a repeat (the first post comes back), a
    /// closed conversation (`conflict`), or no such conversation for this sender (`notFound`).
    static func post(_ draft: MessageDraft, metadata: String?, _ db: SQLiteConnection) async throws -> AppendResult {
        let conversation = draft.conversation.rawValue
        let sender = draft.sender.rawValue
        let inserted = try await db.query(
            """
            INSERT INTO messages (conversation_id, seq, id, sender, client_id, kind, content, metadata, created_at, action, target_seq, emoji)
            SELECT c.id, c.last_seq + 1, ?, ?, ?, ?, ?, ?, ?, 'post', NULL, NULL FROM conversations c
            WHERE c.id = ? AND c.closed_at IS NULL
              AND EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id AND p.user_id = ?)
            ON CONFLICT (conversation_id, sender, client_id) DO NOTHING
            RETURNING seq
            """,
            [.text(draft.id.rawValue), .text(sender), .text(draft.clientID.rawValue), .text(draft.kind.rawValue), .text(draft.content),
             metadata.map { .text($0) } ?? .null, .int(draft.createdAt.milliseconds), .text(conversation), .text(sender)])
        guard let seq = inserted.first?.column("seq")?.integer else {
            if let repeated = try await repeated(draft, db) { return repeated }
            try await refusal(draft, db)
        }
        let message = Message(
            id: draft.id, conversation: draft.conversation, seq: Seq(seq), sender: draft.sender, clientID: draft.clientID,
            action: .post, kind: draft.kind, content: draft.content, metadata: draft.metadata, createdAt: draft.createdAt)
        return AppendResult(message: message, created: true)
    }

    /// The sender's earlier entry with the draft's client id, while they take part.
    static func repeated(_ draft: MessageDraft, _ db: SQLiteConnection) async throws -> AppendResult? {
        let existing = try await db.query(
            """
            SELECT m.* FROM messages m WHERE m.conversation_id = ? AND m.sender = ? AND m.client_id = ?
            AND EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = m.conversation_id AND p.user_id = m.sender)
            """,
            [.text(draft.conversation.rawValue), .text(draft.sender.rawValue), .text(draft.clientID.rawValue)])
        guard let row = existing.first else { return nil }
        return AppendResult(message: Self.decodeMessage(row, prefix: "", conversation: draft.conversation), created: false)
    }

    /// Why an append that took no seq was refused: the conversation is closed (`conflict`) when the
    /// sender takes part, else it does not exist for them (`notFound`).
    static func refusal(_ draft: MessageDraft, _ db: SQLiteConnection) async throws -> Never {
        let participant = try await !db.query(
            "SELECT 1 AS one FROM participants WHERE conversation_id = ? AND user_id = ?",
            [.text(draft.conversation.rawValue), .text(draft.sender.rawValue)]
        ).isEmpty
        if participant { throw ChatError.conflict("the conversation is closed") }
        throw ChatError.notFound("no such conversation")
    }

    public func messages(in id: ConversationID, _ query: HistoryQuery) async throws -> HistoryPage {
        try await read { db in
            var sql = "SELECT * FROM messages WHERE conversation_id = ?"
            var binds: [SQLiteData] = [.text(id.rawValue)]
            if let before = query.before {
                sql += " AND seq < ?"
                binds.append(.int(Int64(before)))
            }
            if let after = query.after {
                sql += " AND seq > ?"
                binds.append(.int(Int64(after)))
            }
            // Reading forward from `after` takes the oldest; otherwise the newest, reversed below.
            let ascending = query.after != nil && query.before == nil
            sql += ascending ? " ORDER BY seq ASC LIMIT ?" : " ORDER BY seq DESC LIMIT ?"
            binds.append(.int(Int64(query.limit + 1)))
            let rows = try await db.query(sql, binds)
            var messages = rows.prefix(query.limit).map { Self.decodeMessage($0, prefix: "", conversation: id) }
            if !ascending { messages.reverse() }
            try await Self.attachReactions(&messages, in: id, db)
            return HistoryPage(messages: messages, hasMore: rows.count > query.limit)
        }
    }

    public func message(_ seq: Seq, in id: ConversationID) async throws -> Message? {
        try await read { db in
            let rows = try await db.query("SELECT * FROM messages WHERE conversation_id = ? AND seq = ?", [.text(id.rawValue), .int(seq)])
            guard let row = rows.first else { return nil }
            var messages = [Self.decodeMessage(row, prefix: "", conversation: id)]
            try await Self.attachReactions(&messages, in: id, db)
            return messages.first
        }
    }

    // MARK: Receipts, archive, close

    public func markWatermarks(of user: UserID, in id: ConversationID, delivered: Seq?, read: Seq?) async throws -> Watermarks {
        try await write { db in
            let rows = try await db.query(
                """
                SELECT p.delivered_seq, p.read_seq, c.last_seq FROM participants p JOIN conversations c ON c.id = p.conversation_id
                WHERE p.conversation_id = ? AND p.user_id = ?
                """,
                [.text(id.rawValue), .text(user.rawValue)])
            guard let row = rows.first else { throw ChatError.notFound("no such conversation") }
            let last = Seq(row.column("last_seq")!.integer!)
            let oldDelivered = Seq(row.column("delivered_seq")!.integer!), oldRead = Seq(row.column("read_seq")!.integer!)
            let newRead = min(last, max(oldRead, read ?? 0))
            let newDelivered = min(last, max(oldDelivered, delivered ?? 0, newRead))
            let moved = newRead != oldRead || newDelivered != oldDelivered
            if moved {
                _ = try await db.query(
                    "UPDATE participants SET delivered_seq = ?, read_seq = ? WHERE conversation_id = ? AND user_id = ?",
                    [.int(newDelivered), .int(newRead), .text(id.rawValue), .text(user.rawValue)])
            }
            return Watermarks(deliveredSeq: newDelivered, readSeq: newRead, moved: moved)
        }
    }

    public func setArchived(_ archived: Bool, for user: UserID, in id: ConversationID) async throws {
        try await write { db in
            let rows = try await db.query(
                "UPDATE participants SET archived = ? WHERE conversation_id = ? AND user_id = ? RETURNING user_id",
                [.int(archived ? 1 : 0), .text(id.rawValue), .text(user.rawValue)])
            guard !rows.isEmpty else { throw ChatError.notFound("no such conversation") }
        }
    }

    public func close(_ id: ConversationID, at time: Timestamp) async throws -> Conversation {
        try await write { db in
            guard try await Self.exists(id, db) else { throw ChatError.notFound("no such conversation") }
            let closed = try await db.query(
                "UPDATE conversations SET closed_at = ? WHERE id = ? AND closed_at IS NULL RETURNING id",
                [.int(time.milliseconds), .text(id.rawValue)])
            if !closed.isEmpty {
                _ = try await db.query("UPDATE participants SET archived = 1 WHERE conversation_id = ?", [.text(id.rawValue)])
                _ = try await db.query(
                    "UPDATE support_requests SET status = 'closed', closed_at = ?, open_key = NULL WHERE conversation_id = ? AND status <> 'closed'",
                    [.int(time.milliseconds), .text(id.rawValue)])
            }
            return try await Self.loadConversation(id, db)!
        }
    }

    // MARK: Rows

    /// Fills in the reactions of the posts in `messages` (one range read).
    private static func attachReactions(_ messages: inout [Message], in id: ConversationID, _ db: SQLiteConnection) async throws {
        let posts = messages.filter { $0.action == .post && !$0.isDeleted }.map(\.seq)
        guard let low = posts.min(), let high = posts.max() else { return }
        let rows = try await db.query(
            "SELECT seq, emoji, user_id FROM reactions WHERE conversation_id = ? AND seq BETWEEN ? AND ? ORDER BY seq, emoji, created_at, user_id",
            [.text(id.rawValue), .int(low), .int(high)])
        guard !rows.isEmpty else { return }
        var bySeq: [Seq: [Reaction]] = [:]
        for row in rows {
            let seq = Seq(row.column("seq")!.integer!), emoji = row.column("emoji")!.string!
            let user = UserID(trusted: row.column("user_id")!.string!)
            if let index = bySeq[seq]?.firstIndex(where: { $0.emoji == emoji }) {
                bySeq[seq]![index].users.append(user)
            } else {
                bySeq[seq, default: []].append(Reaction(emoji: emoji, users: [user]))
            }
        }
        for index in messages.indices where messages[index].action == .post {
            messages[index].reactions = bySeq[messages[index].seq] ?? []
        }
    }

    static func exists(_ id: ConversationID, _ db: SQLiteConnection) async throws -> Bool {
        try await !db.query("SELECT 1 AS one FROM conversations WHERE id = ?", [.text(id.rawValue)]).isEmpty
    }

    static func insertParticipant(_ user: UserID, role: Role, in id: ConversationID, at time: Timestamp, _ db: SQLiteConnection)
        async throws
    {
        _ = try await db.query(
            "INSERT INTO participants (conversation_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
            [.text(id.rawValue), .text(user.rawValue), .text(role.rawValue), .int(time.milliseconds)])
    }

    static func loadConversation(_ id: ConversationID, _ db: SQLiteConnection) async throws -> Conversation? {
        guard let row = try await db.query("SELECT * FROM conversations WHERE id = ?", [.text(id.rawValue)]).first else {
            return nil
        }
        return decodeConversation(row, participants: try await loadParticipants([id], db))
    }

    static func loadParticipants(_ ids: [ConversationID], _ db: SQLiteConnection) async throws
        -> [ConversationID: [Participant]]
    {
        guard !ids.isEmpty else { return [:] }
        let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
        let rows = try await db.query(
            "SELECT * FROM participants WHERE conversation_id IN (\(marks)) ORDER BY joined_at, user_id",
            ids.map { .text($0.rawValue) })
        var result: [ConversationID: [Participant]] = [:]
        for row in rows {
            let id = ConversationID(trusted: row.column("conversation_id")!.string!)
            result[id, default: []].append(
                Participant(
                    user: UserID(trusted: row.column("user_id")!.string!),
                    role: Role(rawValue: row.column("role")!.string!) ?? .member,
                    joinedAt: Timestamp(milliseconds: Int64(row.column("joined_at")!.integer!)),
                    deliveredSeq: Seq(row.column("delivered_seq")!.integer!),
                    readSeq: Seq(row.column("read_seq")!.integer!),
                    archived: (row.column("archived")?.integer ?? 0) != 0))
        }
        return result
    }

    private static func decodeConversation(_ row: SQLiteRow, participants: [ConversationID: [Participant]]) -> Conversation {
        let id = ConversationID(trusted: row.column("id")!.string!)
        return Conversation(
            id: id,
            kind: ConversationKind(rawValue: row.column("kind")!.string!) ?? .group,
            title: row.column("title")?.string,
            workspace: row.column("workspace")?.string.map(WorkspaceID.init(trusted:)),
            createdBy: UserID(trusted: row.column("created_by")!.string!),
            createdAt: Timestamp(milliseconds: Int64(row.column("created_at")!.integer!)),
            lastSeq: Seq(row.column("last_seq")!.integer!),
            lastActivityAt: Timestamp(milliseconds: Int64(row.column("last_activity_at")!.integer!)),
            closedAt: row.column("closed_at")?.integer.map { Timestamp(milliseconds: Int64($0)) },
            participants: participants[id] ?? [])
    }

    private static func decodeMessage(_ row: SQLiteRow, prefix: String, conversation: ConversationID) -> Message {
        func column(_ name: String) -> SQLiteData? { row.column(prefix + name) }
        func time(_ name: String) -> Timestamp? { column(name)?.integer.map { Timestamp(milliseconds: Int64($0)) } }
        let action = MessageAction(
            name: column("action")?.string ?? "post", target: column("target_seq")?.integer.map { Seq($0) },
            emoji: column("emoji")?.string) ?? .post
        return Message(
            id: MessageID(trusted: column("id")!.string!),
            conversation: conversation,
            seq: Seq(column("seq")!.integer!),
            sender: UserID(trusted: column("sender")!.string!),
            clientID: ClientMessageID(trusted: column("client_id")!.string!),
            action: action,
            kind: MessageKind(rawValue: column("kind")!.string!) ?? .text,
            content: column("content")?.string ?? "",
            metadata: column("metadata")?.string.flatMap { try? decodeJSON($0) },
            createdAt: Timestamp(milliseconds: Int64(column("created_at")!.integer!)),
            editedAt: time("edited_at"),
            deletedAt: time("deleted_at"))
    }

    private static func encodeJSON(_ value: JSONValue) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    private static func decodeJSON(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }
}

extension Optional where Wrapped == WorkspaceID {
    var sqlite: SQLiteData { map { .text($0.rawValue) } ?? .null }
}

extension SQLiteData {
    /// A 64-bit integer bind, whatever width SQLiteNIO's integer has on this platform.
    static func int(_ value: Int64) -> SQLiteData { .integer(SQLiteInt64(value)) }
}

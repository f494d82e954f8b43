import ChatCore
import EventLoops
import Foundation
import GRDB
import GroupCommit
import Logging

/// The embedded ``ChatStore``: one SQLite database file in the node's data directory, in WAL mode,
/// through GRDB's `DatabasePool` on Debian's libsqlite3.
///
/// Guarantees: every write runs as one transaction on the writer connection, one at a time, in arrival
/// order (``AsyncGate``), so seq assignment is gap-free; appends that arrive while the writer is busy
/// share its next transaction (group commit: one writer, so one key for all, at most `batching.batch`
/// a transaction; each append gets its own result, and a failure of one that wrote nothing leaves the
/// others' in place); reads run on reader connections and see only committed data. A transaction is
/// one hop to the writer's dispatch queue, whatever it runs, and each statement is compiled once per
/// connection and kept (``Database/rows(_:_:)``): SQLite runs on GRDB's queues, never on an event
/// loop. Survives restarts: reopening the same directory finds everything committed before.
public final class SQLiteStore: ChatStore {
    private let pool: DatabasePool
    private let gate: AsyncGate
    private let logger: Logger
    private let appends: Batcher<PendingAppend, AppendResult>

    private init(
        pool: DatabasePool, maxWaiters: Int, batching: BatchLimits, appendWait: Duration, observeBatch: @escaping BatchObserver,
        logger: Logger
    ) {
        let gate = AsyncGate(maxWaiters: maxWaiters)
        self.pool = pool
        self.gate = gate
        self.logger = logger
        self.appends = Batcher(
            maxBatch: batching.batch, maxWaiting: batching.waiting, maxWait: appendWait,
            schedule: eventLoopSchedule, observe: observeBatch
        ) { batch in
            await Self.append(batch) { body in try await Self.write(pool, gate, logger, body) }
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
        var configuration = Configuration()
        configuration.label = "switchboard.store"
        // Foreign keys are on by default; the pool puts the file in WAL mode, where NORMAL is durable
        // across a process crash (a power loss may lose the last commits, not corrupt the file).
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous=NORMAL") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try await migrate(pool)
        return SQLiteStore(
            pool: pool, maxWaiters: maxWaitingWrites, batching: batching, appendWait: appendWait, observeBatch: observeBatch,
            logger: logger)
    }

    /// Closes the database's connections; the store must not be used afterwards.
    public func close() async {
        try? pool.close()
    }

    /// Runs the ``SQLiteSchema`` migrations not yet applied (`PRAGMA user_version` counts them), each
    /// in its own transaction.
    private static func migrate(_ pool: DatabasePool) async throws {
        try await pool.writeWithoutTransaction { db in
            let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
            for (index, steps) in SQLiteSchema.migrations.enumerated() where index >= version {
                try db.inTransaction(.immediate) {
                    for step in steps { try db.execute(sql: step) }
                    try db.execute(sql: "PRAGMA user_version = \(index + 1)")
                    return .commit
                }
            }
        }
    }

    // MARK: Transactions

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await Self.write(pool, gate, logger, body)
    }

    /// `body` as one IMMEDIATE transaction on the writer, alone (through `gate`) and in one hop to the
    /// writer's queue; rolled back when it throws; errors mapped to ``ChatError``s. It runs to its end
    /// whatever becomes of the calling task: a batch of appends runs in its leader's task and carries
    /// other callers' appends, so the leader's cancellation (its client went away) must not fail them.
    /// GRDB's `async` methods would interrupt the statement on cancellation; its completion-handler
    /// form does not.
    static func write<T: Sendable>(
        _ pool: DatabasePool, _ gate: AsyncGate, _ logger: Logger, _ body: @escaping @Sendable (Database) throws -> T
    ) async throws -> T {
        do {
            return try await gate.run {
                try await withCheckedThrowingContinuation { continuation in
                    pool.asyncWrite(body) { _, result in continuation.resume(with: result) }
                }
            }
        } catch {
            throw map(error, logger)
        }
    }

    /// `body` in a read transaction on a reader connection: it sees what was committed when it began.
    /// Like a write, it runs to its end whatever becomes of the calling task.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        do {
            return try await withCheckedThrowingContinuation { continuation in
                pool.asyncRead { database in
                    continuation.resume(with: Result { try body(database.get()) })
                }
            }
        } catch {
            throw Self.map(error, logger)
        }
    }

    private static func map(_ error: any Error, _ logger: Logger) -> ChatError {
        if let chat = error as? ChatError { return chat }
        if let sqlite = error as? DatabaseError {
            switch sqlite.resultCode {
            case .SQLITE_BUSY, .SQLITE_LOCKED, .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_CANTOPEN:
                logger.warning("sqlite unavailable", metadata: ["error": "\(sqlite)"])
                return .unavailable("the store is busy or unreachable; retry")
            case .SQLITE_CONSTRAINT:
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
            let existing = try db.rows("SELECT id FROM conversations WHERE direct_key = ?", [key])
            if let found = existing.first.flatMap({ $0["id"] as String? }) {
                return (try Self.loadConversation(ConversationID(trusted: found), db)!, false)
            }
            try db.run(
                """
                INSERT INTO conversations (id, kind, title, workspace, created_by, created_at, last_seq, last_activity_at, direct_key)
                VALUES (?, 'direct', NULL, ?, ?, ?, 0, ?, ?)
                """,
                [id.rawValue, workspace?.rawValue, creator.rawValue, time.milliseconds,
                 time.milliseconds, key]
            )
            for user in [creator, other] {
                try Self.insertParticipant(user, role: .member, in: id, at: time, db)
            }
            return (try Self.loadConversation(id, db)!, true)
        }
        return (result.0, result.1)
    }

    public func createGroup(
        id: ConversationID, title: String, creator: UserID, others: [UserID], workspace: WorkspaceID?, at time: Timestamp
    ) async throws -> Conversation {
        try await write { db in
            try db.run(
                """
                INSERT INTO conversations (id, kind, title, workspace, created_by, created_at, last_seq, last_activity_at)
                VALUES (?, 'group', ?, ?, ?, ?, 0, ?)
                """,
                [id.rawValue, title, workspace?.rawValue, creator.rawValue, time.milliseconds,
                 time.milliseconds]
            )
            try Self.insertParticipant(creator, role: .admin, in: id, at: time, db)
            for user in others where user != creator {
                try Self.insertParticipant(user, role: .member, in: id, at: time, db)
            }
            return try Self.loadConversation(id, db)!
        }
    }

    public func conversation(_ id: ConversationID) async throws -> Conversation? {
        try await read { db in try Self.loadConversation(id, db) }
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
            var binds: StatementArguments = [user.rawValue]
            if let workspace {
                sql += " AND c.workspace = ?"
                binds += [workspace.rawValue]
            }
            if let cursor {
                sql += " AND (c.last_activity_at < ? OR (c.last_activity_at = ? AND c.id < ?))"
                binds += [cursor.lastActivityAt.milliseconds, cursor.lastActivityAt.milliseconds,
                          cursor.id.rawValue]
            }
            sql += " ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ?"
            binds += [Int64(limit + 1)]
            let rows = try db.rows(sql, binds)
            let pageRows = rows.prefix(limit)
            let ids = pageRows.map { ConversationID(trusted: $0["id"]) }
            let participants = try Self.loadParticipants(ids, db)
            let items = pageRows.map { row -> ConversationSummary in
                let conversation = Self.decodeConversation(row, participants: participants)
                var last: Message?
                if (row["m_id"] as String?) != nil {
                    last = Self.decodeMessage(row, prefix: "m_", conversation: conversation.id)
                }
                return ConversationSummary(
                    conversation: conversation, lastMessage: last, unread: Int((row["my_unread"] as Int64?) ?? 0),
                    archived: ((row["my_archived"] as Int64?) ?? 0) != 0)
            }
            let next = rows.count > limit
                ? items.last.map { ConversationCursor(lastActivityAt: $0.conversation.lastActivityAt, id: $0.conversation.id).token }
                : nil
            return Page(items: items, nextCursor: next)
        }
    }

    public func activity(of id: ConversationID) async throws -> ConversationActivity? {
        try await read { db in
            let rows = try db.rows(
                """
                SELECT c.last_seq, c.last_activity_at, \(Self.previewColumns)
                FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_post_seq
                WHERE c.id = ?
                """, [id.rawValue])
            guard let row = rows.first else { return nil }
            return ConversationActivity(
                lastSeq: row["last_seq"] as Seq,
                lastActivityAt: Timestamp(milliseconds: row["last_activity_at"]),
                lastPost: (row["m_id"] as String?) == nil ? nil : Self.decodeMessage(row, prefix: "m_", conversation: id))
        }
    }

    /// The newest post `m` of a conversation, each column prefixed `m_` (see ``decodeMessage``).
    private static let previewColumns = [
        "id", "seq", "sender", "client_id", "kind", "content", "metadata", "created_at", "action", "target_seq", "emoji",
        "edited_at", "deleted_at",
    ].map { "m.\($0) AS m_\($0)" }.joined(separator: ", ")

    /// The most users one memberships statement names: under SQLite's smallest limit on a statement's
    /// parameters (999), so a larger set is read in parts.
    static let usersPerStatement = 500

    public func memberships(of users: Set<UserID>) async throws -> [UserID: [ConversationID: Membership]] {
        guard !users.isEmpty else { return [:] }
        return try await read { db in
            var result: [UserID: [ConversationID: Membership]] = [:]
            for part in users.map(\.rawValue).chunks(of: Self.usersPerStatement) {
                let rows = try db.rows(
                    """
                    SELECT p.user_id, c.id, c.last_seq, p.delivered_seq FROM participants p JOIN conversations c ON c.id = p.conversation_id
                    WHERE p.user_id IN (\(Array(repeating: "?", count: part.count).joined(separator: ",")))
                    """,
                    StatementArguments(Array(part)))
                for row in rows {
                    result[UserID(trusted: row["user_id"]), default: [:]][ConversationID(trusted: row["id"])] = Membership(
                        lastSeq: row["last_seq"] as Seq, deliveredSeq: row["delivered_seq"] as Seq)
                }
            }
            return result
        }
    }

    public func contacts(of user: UserID) async throws -> Set<UserID> {
        try await read { db in
            let rows = try db.rows(
                """
                SELECT DISTINCT o.user_id FROM participants p JOIN participants o ON o.conversation_id = p.conversation_id
                WHERE p.user_id = ? AND o.user_id <> p.user_id
                """,
                [user.rawValue])
            return Set(rows.map { UserID(trusted: $0["user_id"]) })
        }
    }

    public func addParticipants(_ users: [UserID], role: Role, to id: ConversationID, at time: Timestamp) async throws
        -> Conversation
    {
        try await write { db in
            guard try Self.exists(id, db) else { throw ChatError.notFound("no such conversation") }
            for user in users {
                // A newcomer starts with both watermarks at the current last seq: nothing from before is unread.
                try db.run(
                    """
                    INSERT OR IGNORE INTO participants (conversation_id, user_id, role, joined_at, delivered_seq, read_seq)
                    SELECT id, ?, ?, ?, last_seq, last_seq FROM conversations WHERE id = ?
                    """,
                    [user.rawValue, role.rawValue, time.milliseconds, id.rawValue]
                )
            }
            return try Self.loadConversation(id, db)!
        }
    }

    public func removeParticipant(_ user: UserID, from id: ConversationID, promote: UserID?) async throws -> Conversation {
        try await write { db in
            guard try Self.exists(id, db) else { throw ChatError.notFound("no such conversation") }
            try db.run(
                "DELETE FROM participants WHERE conversation_id = ? AND user_id = ?", [id.rawValue, user.rawValue])
            if let promote {
                try db.run(
                    "UPDATE participants SET role = 'admin' WHERE conversation_id = ? AND user_id = ?",
                    [id.rawValue, promote.rawValue])
            }
            return try Self.loadConversation(id, db)!
        }
    }

    public func setRole(_ role: Role, of user: UserID, in id: ConversationID) async throws -> Conversation {
        try await write { db in
            guard try Self.exists(id, db) else { throw ChatError.notFound("no such conversation") }
            try db.run(
                "UPDATE participants SET role = ? WHERE conversation_id = ? AND user_id = ?",
                [role.rawValue, id.rawValue, user.rawValue])
            return try Self.loadConversation(id, db)!
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
        _ batch: [PendingAppend],
        write: (@escaping @Sendable (Database) throws -> [Result<AppendResult, any Error>]) async throws -> [Result<AppendResult, any Error>]
    ) async -> [Result<AppendResult, any Error>] {
        do {
            return try await write { db in
                var results: [Result<AppendResult, any Error>] = []
                for pending in batch {
                    do {
                        results.append(.success(try Self.append(pending.draft, metadata: pending.metadata, db)))
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
    static func append(_ draft: MessageDraft, metadata: String?, _ db: Database) throws -> AppendResult {
        if draft.action == .post { return try post(draft, metadata: metadata, db) }
        let conversation = draft.conversation.rawValue
        let sender = draft.sender.rawValue
        if let repeated = try repeated(draft, db) { return repeated }
        var kind = draft.kind
        if let target = draft.action.target {
            let rows = try db.rows(
                "SELECT kind FROM messages WHERE conversation_id = ? AND seq = ? AND action = 'post' AND deleted_at IS NULL",
                [conversation, target])
            guard let found = rows.first.flatMap({ $0["kind"] as String? }) else { throw ChatError.notFound("no such message") }
            kind = MessageKind(rawValue: found) ?? .text
        }
        // An action (edit, delete, reaction) takes the next seq without moving the activity time.
        let member = "EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = conversations.id AND p.user_id = ?)"
        let updated = try db.rows(
            "UPDATE conversations SET last_seq = last_seq + 1 WHERE id = ? AND closed_at IS NULL AND \(member) RETURNING last_seq",
            [conversation, sender])
        guard let seq = updated.first.flatMap({ $0["last_seq"] as Int64? }) else { try refusal(draft, db) }
        let time = Int64(draft.createdAt.milliseconds)
        let content = draft.action.carriesContent ? draft.content : ""
        let entryMetadata = draft.action.carriesContent ? metadata : nil
        switch draft.action {
        case .post:
            throw ChatError.internal("a post is stored by post(_:metadata:_:)")
        case .edit(let target):
            try db.run(
                "UPDATE messages SET content = ?, metadata = ?, edited_at = ? WHERE conversation_id = ? AND seq = ?",
                [draft.content, metadata, time, conversation, target])
        case .delete(let target):
            // The tombstone keeps its seq; its content, the content of its edits and its reactions go.
            try db.run(
                "UPDATE messages SET content = '', metadata = NULL, deleted_at = ? WHERE conversation_id = ? AND seq = ?",
                [time, conversation, target])
            try db.run(
                "UPDATE messages SET content = '', metadata = NULL WHERE conversation_id = ? AND action = 'edit' AND target_seq = ?",
                [conversation, target])
            try db.run(
                "DELETE FROM reactions WHERE conversation_id = ? AND seq = ?", [conversation, target])
        case .react(let target, let emoji):
            try db.run(
                "INSERT OR IGNORE INTO reactions (conversation_id, seq, emoji, user_id, created_at) VALUES (?, ?, ?, ?, ?)",
                [conversation, target, emoji, draft.sender.rawValue, time])
        case .unreact(let target, let emoji):
            try db.run(
                "DELETE FROM reactions WHERE conversation_id = ? AND seq = ? AND emoji = ? AND user_id = ?",
                [conversation, target, emoji, draft.sender.rawValue])
        }
        try db.run(
            """
            INSERT INTO messages (conversation_id, seq, id, sender, client_id, kind, content, metadata, created_at,
                                  action, target_seq, emoji)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [conversation, Int64(seq), draft.id.rawValue, draft.sender.rawValue,
             draft.clientID.rawValue, kind.rawValue, content,
             entryMetadata, time, draft.action.name,
             draft.action.target, draft.action.emoji]
        )
        let message = Message(
            id: draft.id, conversation: draft.conversation, seq: Seq(seq), sender: draft.sender, clientID: draft.clientID,
            action: draft.action, kind: kind, content: content, metadata: draft.action.carriesContent ? draft.metadata : nil,
            createdAt: draft.createdAt)
        return AppendResult(message: message, created: true)
    }

    /// The post's statement: its arguments are the draft's id, sender, client id, kind, content,
    /// metadata and time, then the conversation and the sender again. `scripts/sqlite-statement-cost.sh`
    /// reads its text from here.
    static let postStatement = """
        INSERT INTO messages (conversation_id, seq, id, sender, client_id, kind, content, metadata, created_at, action, target_seq, emoji)
        SELECT c.id, c.last_seq + 1, ?, ?, ?, ?, ?, ?, ?, 'post', NULL, NULL FROM conversations c
        WHERE c.id = ? AND c.closed_at IS NULL
          AND EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = c.id AND p.user_id = ?)
        ON CONFLICT (conversation_id, sender, client_id) DO NOTHING
        RETURNING seq
        """

    /// A post in one statement: the entry takes the conversation's next seq only where the sender takes
    /// part and the conversation is open, and a repeat of the sender's client id inserts nothing; the
    /// `messages_post` trigger does the rest (the seq, the activity time, unarchiving, a support agent's
    /// first reply). When nothing was inserted, it says why: a repeat (the first post comes back), a
    /// closed conversation (`conflict`), or no such conversation for this sender (`notFound`).
    static func post(_ draft: MessageDraft, metadata: String?, _ db: Database) throws -> AppendResult {
        let conversation = draft.conversation.rawValue
        let sender = draft.sender.rawValue
        let inserted = try db.rows(
            postStatement,
            [draft.id.rawValue, sender, draft.clientID.rawValue, draft.kind.rawValue, draft.content,
             metadata, draft.createdAt.milliseconds, conversation, sender])
        guard let seq = inserted.first.flatMap({ $0["seq"] as Int64? }) else {
            if let repeated = try repeated(draft, db) { return repeated }
            try refusal(draft, db)
        }
        let message = Message(
            id: draft.id, conversation: draft.conversation, seq: Seq(seq), sender: draft.sender, clientID: draft.clientID,
            action: .post, kind: draft.kind, content: draft.content, metadata: draft.metadata, createdAt: draft.createdAt)
        return AppendResult(message: message, created: true)
    }

    /// The sender's earlier entry with the draft's client id, while they take part.
    static func repeated(_ draft: MessageDraft, _ db: Database) throws -> AppendResult? {
        let existing = try db.rows(
            """
            SELECT m.* FROM messages m WHERE m.conversation_id = ? AND m.sender = ? AND m.client_id = ?
            AND EXISTS (SELECT 1 FROM participants p WHERE p.conversation_id = m.conversation_id AND p.user_id = m.sender)
            """,
            [draft.conversation.rawValue, draft.sender.rawValue, draft.clientID.rawValue])
        guard let row = existing.first else { return nil }
        return AppendResult(message: Self.decodeMessage(row, prefix: "", conversation: draft.conversation), created: false)
    }

    /// Why an append that took no seq was refused: the conversation is closed (`conflict`) when the
    /// sender takes part, else it does not exist for them (`notFound`).
    static func refusal(_ draft: MessageDraft, _ db: Database) throws -> Never {
        let participant = try !db.rows(
            "SELECT 1 AS one FROM participants WHERE conversation_id = ? AND user_id = ?",
            [draft.conversation.rawValue, draft.sender.rawValue]
        ).isEmpty
        if participant { throw ChatError.conflict("the conversation is closed") }
        throw ChatError.notFound("no such conversation")
    }

    public func messages(in id: ConversationID, _ query: HistoryQuery) async throws -> HistoryPage {
        try await read { db in
            var sql = "SELECT * FROM messages WHERE conversation_id = ?"
            var binds: StatementArguments = [id.rawValue]
            if let before = query.before {
                sql += " AND seq < ?"
                binds += [Int64(before)]
            }
            if let after = query.after {
                sql += " AND seq > ?"
                binds += [Int64(after)]
            }
            // Reading forward from `after` takes the oldest; otherwise the newest, reversed below.
            let ascending = query.after != nil && query.before == nil
            sql += ascending ? " ORDER BY seq ASC LIMIT ?" : " ORDER BY seq DESC LIMIT ?"
            binds += [Int64(query.limit + 1)]
            let rows = try db.rows(sql, binds)
            var messages = rows.prefix(query.limit).map { Self.decodeMessage($0, prefix: "", conversation: id) }
            if !ascending { messages.reverse() }
            try Self.attachReactions(&messages, in: id, db)
            return HistoryPage(messages: messages, hasMore: rows.count > query.limit)
        }
    }

    public func message(_ seq: Seq, in id: ConversationID) async throws -> Message? {
        try await read { db in
            let rows = try db.rows("SELECT * FROM messages WHERE conversation_id = ? AND seq = ?", [id.rawValue, seq])
            guard let row = rows.first else { return nil }
            var messages = [Self.decodeMessage(row, prefix: "", conversation: id)]
            try Self.attachReactions(&messages, in: id, db)
            return messages.first
        }
    }

    // MARK: Receipts, archive, close

    public func markWatermarks(of user: UserID, in id: ConversationID, delivered: Seq?, read: Seq?) async throws -> Watermarks {
        try await write { db in
            let rows = try db.rows(
                """
                SELECT p.delivered_seq, p.read_seq, c.last_seq FROM participants p JOIN conversations c ON c.id = p.conversation_id
                WHERE p.conversation_id = ? AND p.user_id = ?
                """,
                [id.rawValue, user.rawValue])
            guard let row = rows.first else { throw ChatError.notFound("no such conversation") }
            let last = row["last_seq"] as Seq
            let oldDelivered = row["delivered_seq"] as Seq, oldRead = row["read_seq"] as Seq
            let newRead = min(last, max(oldRead, read ?? 0))
            let newDelivered = min(last, max(oldDelivered, delivered ?? 0, newRead))
            let moved = newRead != oldRead || newDelivered != oldDelivered
            if moved {
                try db.run(
                    "UPDATE participants SET delivered_seq = ?, read_seq = ? WHERE conversation_id = ? AND user_id = ?",
                    [newDelivered, newRead, id.rawValue, user.rawValue])
            }
            return Watermarks(deliveredSeq: newDelivered, readSeq: newRead, moved: moved)
        }
    }

    public func setArchived(_ archived: Bool, for user: UserID, in id: ConversationID) async throws {
        try await write { db in
            let rows = try db.rows(
                "UPDATE participants SET archived = ? WHERE conversation_id = ? AND user_id = ? RETURNING user_id",
                [archived ? 1 : 0, id.rawValue, user.rawValue])
            guard !rows.isEmpty else { throw ChatError.notFound("no such conversation") }
        }
    }

    public func close(_ id: ConversationID, at time: Timestamp) async throws -> Conversation {
        try await write { db in
            guard try Self.exists(id, db) else { throw ChatError.notFound("no such conversation") }
            let closed = try db.rows(
                "UPDATE conversations SET closed_at = ? WHERE id = ? AND closed_at IS NULL RETURNING id",
                [time.milliseconds, id.rawValue])
            if !closed.isEmpty {
                try db.run("UPDATE participants SET archived = 1 WHERE conversation_id = ?", [id.rawValue])
                try db.run(
                    "UPDATE support_requests SET status = 'closed', closed_at = ?, open_key = NULL WHERE conversation_id = ? AND status <> 'closed'",
                    [time.milliseconds, id.rawValue])
            }
            return try Self.loadConversation(id, db)!
        }
    }

    // MARK: Rows

    /// Fills in the reactions of the posts in `messages` (one range read).
    private static func attachReactions(_ messages: inout [Message], in id: ConversationID, _ db: Database) throws {
        let posts = messages.filter { $0.action == .post && !$0.isDeleted }.map(\.seq)
        guard let low = posts.min(), let high = posts.max() else { return }
        let rows = try db.rows(
            "SELECT seq, emoji, user_id FROM reactions WHERE conversation_id = ? AND seq BETWEEN ? AND ? ORDER BY seq, emoji, created_at, user_id",
            [id.rawValue, low, high])
        guard !rows.isEmpty else { return }
        var bySeq: [Seq: [Reaction]] = [:]
        for row in rows {
            let seq = row["seq"] as Seq, emoji = (row["emoji"] as String)
            let user = UserID(trusted: row["user_id"])
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

    static func exists(_ id: ConversationID, _ db: Database) throws -> Bool {
        try !db.rows("SELECT 1 AS one FROM conversations WHERE id = ?", [id.rawValue]).isEmpty
    }

    static func insertParticipant(_ user: UserID, role: Role, in id: ConversationID, at time: Timestamp, _ db: Database)
        throws
    {
        try db.run(
            "INSERT INTO participants (conversation_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
            [id.rawValue, user.rawValue, role.rawValue, time.milliseconds])
    }

    static func loadConversation(_ id: ConversationID, _ db: Database) throws -> Conversation? {
        guard let row = try db.rows("SELECT * FROM conversations WHERE id = ?", [id.rawValue]).first else {
            return nil
        }
        return decodeConversation(row, participants: try loadParticipants([id], db))
    }

    static func loadParticipants(_ ids: [ConversationID], _ db: Database) throws
        -> [ConversationID: [Participant]]
    {
        guard !ids.isEmpty else { return [:] }
        let marks = Array(repeating: "?", count: ids.count).joined(separator: ",")
        // Compiled at each call, not kept: its text varies with the number of ids.
        let rows = try Row.fetchAll(
            db, sql: "SELECT * FROM participants WHERE conversation_id IN (\(marks)) ORDER BY joined_at, user_id",
            arguments: StatementArguments(ids.map(\.rawValue)))
        var result: [ConversationID: [Participant]] = [:]
        for row in rows {
            let id = ConversationID(trusted: row["conversation_id"])
            result[id, default: []].append(
                Participant(
                    user: UserID(trusted: row["user_id"]),
                    role: Role(rawValue: (row["role"] as String)) ?? .member,
                    joinedAt: Timestamp(milliseconds: row["joined_at"]),
                    deliveredSeq: row["delivered_seq"] as Seq,
                    readSeq: row["read_seq"] as Seq,
                    archived: ((row["archived"] as Int64?) ?? 0) != 0))
        }
        return result
    }

    private static func decodeConversation(_ row: Row, participants: [ConversationID: [Participant]]) -> Conversation {
        let id = ConversationID(trusted: row["id"])
        return Conversation(
            id: id,
            kind: ConversationKind(rawValue: (row["kind"] as String)) ?? .group,
            title: (row["title"] as String?),
            workspace: (row["workspace"] as String?).map(WorkspaceID.init(trusted:)),
            createdBy: UserID(trusted: row["created_by"]),
            createdAt: Timestamp(milliseconds: row["created_at"]),
            lastSeq: row["last_seq"] as Seq,
            lastActivityAt: Timestamp(milliseconds: row["last_activity_at"]),
            closedAt: (row["closed_at"] as Int64?).map(Timestamp.init(milliseconds:)),
            participants: participants[id] ?? [])
    }

    private static func decodeMessage(_ row: Row, prefix: String, conversation: ConversationID) -> Message {
        func text(_ name: String) -> String? { row[prefix + name] }
        func integer(_ name: String) -> Int64? { row[prefix + name] }
        func time(_ name: String) -> Timestamp? { integer(name).map(Timestamp.init(milliseconds:)) }
        let action = MessageAction(name: text("action") ?? "post", target: integer("target_seq"), emoji: text("emoji")) ?? .post
        return Message(
            id: MessageID(trusted: row[prefix + "id"]),
            conversation: conversation,
            seq: row[prefix + "seq"],
            sender: UserID(trusted: row[prefix + "sender"]),
            clientID: ClientMessageID(trusted: row[prefix + "client_id"]),
            action: action,
            kind: text("kind").flatMap(MessageKind.init(rawValue:)) ?? .text,
            content: text("content") ?? "",
            metadata: text("metadata").flatMap { try? decodeJSON($0) },
            createdAt: Timestamp(milliseconds: row[prefix + "created_at"]),
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

extension Database {
    /// The rows of `sql` with `arguments`. The statement is compiled at its first run on this
    /// connection and kept (GRDB's statement cache), so the store's statements, each a fixed text,
    /// are only bound and stepped after that: the compile was half of a post's cost in SQLite.
    func rows(_ sql: String, _ arguments: StatementArguments = []) throws -> [Row] {
        try Row.fetchAll(cachedStatement(sql: sql), arguments: arguments)
    }

    /// Runs `sql` with `arguments`, its statement kept as in ``rows(_:_:)``.
    func run(_ sql: String, _ arguments: StatementArguments = []) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

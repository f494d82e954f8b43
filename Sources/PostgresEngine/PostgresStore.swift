import ChatCore
import EventLoops
import GroupCommit
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import _ConnectionPoolModule
import ServiceLifecycle

/// The cluster's ``ChatStore``: PostgreSQL through a PostgresNIO connection pool that runs as a Service.
///
/// Guarantees: a send is stored by one call of an append function (`switchboard_append_posts` for a batch
/// of at least ``setBasedPostsFrom`` posts, else `switchboard_append_batch`; the same rows either way:
/// one round trip, one transaction, shared with the sends that arrived together, of any conversation), which serialises
/// appends per conversation on its row lock and no further, so seqs are gap-free and ordered under any
/// number of nodes; every other write is one transaction; every statement is parameterised; no call
/// waits longer than the configured timeout, except a send, which may first wait up to the timeout for
/// the batch in flight (group commit) and then the timeout for its own batch; sends are stored in the
/// order they took their places in line. Failures are ``ChatError``s: a lost
/// or unreachable database is `unavailable` (retry; the pool reconnects by itself once the server is
/// back), a unique violation is `conflict`. The schema must have been migrated (``Migrator``).
public final class PostgresStore: ChatStore, Service {
    let client: PostgresClient
    let timeout: Duration
    let logger: Logger
    /// Group commit of appends across conversations (``Batcher``): one batch in flight, and the drafts
    /// that arrive while it runs go together in the next one.
    private let appends: Batcher<PendingAppend, AppendResult>

    /// `observeBatch` is told the size of each group commit's batch (the node's metrics).
    public init(settings: DatabaseSettings, logger: Logger, observeBatch: @escaping BatchObserver = { _ in }) throws {
        let client = PostgresClient(configuration: try settings.clientConfiguration(), backgroundLogger: logger)
        self.client = client
        self.timeout = settings.timeout
        self.logger = logger
        self.appends = Batcher(
            maxBatch: settings.appendBatching.batch, maxWaiting: settings.appendBatching.waiting, maxWait: settings.timeout,
            schedule: eventLoopSchedule, observe: observeBatch
        ) { [timeout = settings.timeout] batch in
            await Self.append(batch, client, logger, timeout: timeout)
        }
    }

    /// Runs the connection pool until cancelled or a graceful shutdown.
    public func run() async {
        await client.run()
    }

    // MARK: Calls, transactions, errors

    /// Runs `body` with the store's deadline (or `deadline`) and maps whatever it throws to a ``ChatError``.
    ///
    /// The answer comes at the deadline even when `body` does not: a query on a connection the server
    /// dropped mid-shutdown can wait for the socket to time out, and a caller (a send, a client) must not
    /// wait with it. Such a body is cancelled and finishes on its own; its connection is one of the pool's
    /// bounded few.
    func call<T: Sendable>(within deadline: Duration? = nil, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let timeout = deadline ?? self.timeout
        do {
            return try await Deadline.run(after: timeout, body)
        } catch {
            throw map(error)
        }
    }

    /// Runs `body` in one transaction on one pooled connection, within the deadline.
    func transaction<T: Sendable>(
        within deadline: Duration? = nil, _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await call(within: deadline) { [client, logger] in
            try await client.withConnection { connection in
                try await connection.run("BEGIN", logger)
                do {
                    let value = try await body(connection)
                    try await connection.run("COMMIT", logger)
                    return value
                } catch {
                    _ = try? await connection.run("ROLLBACK", logger)
                    throw error
                }
            }
        }
    }

    /// The rows of one statement run on its own (autocommit), within the deadline.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await call { [client, logger] in try await client.run(query, logger) }
    }

    func map(_ error: any Error) -> ChatError { Self.map(error, logger) }

    static func map(_ error: any Error, _ logger: Logger) -> ChatError {
        if let chat = error as? ChatError { return chat }
        if let pool = error as? ConnectionPoolError {
            logger.warning("database unavailable", metadata: ["error": "\(pool)"])
            return .unavailable("the database is unreachable; retry")
        }
        if error is CancellationError { return .unavailable("the call was cancelled; retry") }
        guard let psql = error as? PSQLError else {
            logger.error("database failure", metadata: ["error": "\(String(reflecting: error))"])
            return .internal("store failure")
        }
        guard psql.code == .server, let state = psql.serverInfo?[.sqlState] else {
            // Closed, reset or refused connections, TLS and protocol trouble: the database is not reachable now.
            logger.warning("database unavailable", metadata: ["error": "\(psql.code)"])
            return .unavailable("the database is unreachable; retry")
        }
        let message = psql.serverInfo?[.message] ?? "store failure"
        if let own = appendError(state) { return own }
        switch state {
        case "23505": return .conflict("the change conflicts with stored data")
        // Connection exceptions, shutdown and crash recovery, too many connections, serialization failures
        // and deadlocks: retrying later can succeed.
        case _ where state.hasPrefix("08") || state.hasPrefix("57") || state.hasPrefix("53") || state == "40001"
            || state == "40P01":
            logger.warning("database unavailable", metadata: ["sqlstate": "\(state)", "message": "\(message)"])
            return .unavailable("the database is unavailable; retry")
        default:
            logger.error("database failure", metadata: ["sqlstate": "\(state)", "message": "\(message)"])
            return .internal("store failure")
        }
    }

    /// The append functions' own SQLSTATEs: SB404 no such conversation (or not a participant), SB409
    /// closed, SB410 no such target.
    static func appendError(_ state: String) -> ChatError? {
        switch state {
        case "SB404": .notFound("no such conversation")
        case "SB409": .conflict("the conversation is closed")
        case "SB410": .notFound("no such message")
        default: nil
        }
    }

    // MARK: Conversations

    public func createDirect(
        id: ConversationID, between creator: UserID, and other: UserID, workspace: WorkspaceID?, at time: Timestamp
    ) async throws -> (conversation: Conversation, created: Bool) {
        let key = ConversationRules.directKey(between: creator, and: other, workspace: workspace)
        let result: (Conversation, Bool) = try await transaction { [logger] db in
            // ON CONFLICT makes two nodes creating the same pair at once agree on one conversation.
            let inserted = try await db.run(
                """
                INSERT INTO conversations (id, kind, title, workspace, created_by, created_at, last_seq, last_activity_at, direct_key)
                VALUES (\(id.rawValue), 'direct', NULL, \(workspace?.rawValue), \(creator.rawValue), \(time.milliseconds), 0,
                        \(time.milliseconds), \(key))
                ON CONFLICT (direct_key) DO NOTHING RETURNING id
                """, logger)
            guard !inserted.isEmpty else {
                let rows = try await db.run("SELECT id FROM conversations WHERE direct_key = \(key)", logger)
                guard let found = try rows.first?.decode(String.self) else { throw ChatError.unavailable("the conversation is being created; retry") }
                return (try await Self.loadConversation(ConversationID(trusted: found), db, logger)!, false)
            }
            try await Self.insertParticipants([creator, other], role: .member, in: id, at: time, db, logger)
            return (try await Self.loadConversation(id, db, logger)!, true)
        }
        return (result.0, result.1)
    }

    public func createGroup(
        id: ConversationID, title: String, creator: UserID, others: [UserID], workspace: WorkspaceID?, at time: Timestamp
    ) async throws -> Conversation {
        try await transaction { [logger] db in
            _ = try await db.run(
                """
                INSERT INTO conversations (id, kind, title, workspace, created_by, created_at, last_seq, last_activity_at)
                VALUES (\(id.rawValue), 'group', \(title), \(workspace?.rawValue), \(creator.rawValue), \(time.milliseconds), 0,
                        \(time.milliseconds))
                """, logger)
            try await Self.insertParticipants([creator], role: .admin, in: id, at: time, db, logger)
            try await Self.insertParticipants(others.filter { $0 != creator }, role: .member, in: id, at: time, db, logger)
            return try await Self.loadConversation(id, db, logger)!
        }
    }

    public func conversation(_ id: ConversationID) async throws -> Conversation? {
        try await call { [client, logger] in try await Self.loadConversation(id, client, logger) }
    }

    public func conversations(
        of user: UserID, workspace: WorkspaceID?, after cursor: ConversationCursor?, limit: Int
    ) async throws -> Page<ConversationSummary> {
        var query: PostgresQuery = """
            SELECT \(unescaped: Self.conversationColumns),
                   \(unescaped: Self.previewColumns),
                   p.archived AS my_archived,
                   (SELECT count(*) FROM messages u
                    WHERE u.conversation_id = c.id AND u.seq > p.read_seq AND u.action = 'post'
                      AND u.deleted_at IS NULL AND u.sender <> p.user_id) AS my_unread
            FROM participants p
            JOIN conversations c ON c.id = p.conversation_id
            LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_post_seq
            WHERE p.user_id = \(user.rawValue)
            """
        if let workspace {
            query.sql += " AND c.workspace = $\(query.binds.count + 1)"
            query.binds.append(workspace.rawValue)
        }
        if let cursor {
            let n = query.binds.count
            query.sql += " AND (c.last_activity_at, c.id) < ($\(n + 1), $\(n + 2))"
            query.binds.append(cursor.lastActivityAt.milliseconds)
            query.binds.append(cursor.id.rawValue)
        }
        query.sql += " ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $\(query.binds.count + 1)"
        query.binds.append(limit + 1)
        let finalQuery = query
        return try await call { [client, logger] in
            let rows = try await client.run(finalQuery, logger)
            let pageRows = Array(rows.prefix(limit))
            let ids = try pageRows.map { ConversationID(trusted: try $0.makeRandomAccess()["id"].decode(String.self)) }
            let participants = try await Self.loadParticipants(ids, client, logger)
            let items = try pageRows.map { row -> ConversationSummary in
                let columns = row.makeRandomAccess()
                let conversation = try Self.decodeConversation(columns, participants: participants)
                let last = try columns["m_id"].decode(String?.self) == nil
                    ? nil : try Self.decodeMessage(columns, prefix: "m_", conversation: conversation.id)
                return ConversationSummary(
                    conversation: conversation, lastMessage: last, unread: Int(try columns["my_unread"].decode(Int64.self)),
                    archived: try columns["my_archived"].decode(Bool.self))
            }
            let next = rows.count > limit
                ? items.last.map { ConversationCursor(lastActivityAt: $0.conversation.lastActivityAt, id: $0.conversation.id).token }
                : nil
            return Page(items: items, nextCursor: next)
        }
    }

    public func activity(of id: ConversationID) async throws -> ConversationActivity? {
        try await call { [client, logger] in
            let rows = try await client.run(
                """
                SELECT c.last_seq, c.last_activity_at, \(unescaped: Self.previewColumns)
                FROM conversations c LEFT JOIN messages m ON m.conversation_id = c.id AND m.seq = c.last_post_seq
                WHERE c.id = \(id.rawValue)
                """, logger)
            guard let row = rows.first?.makeRandomAccess() else { return nil }
            return ConversationActivity(
                lastSeq: try row["last_seq"].decode(Int64.self),
                lastActivityAt: Timestamp(milliseconds: try row["last_activity_at"].decode(Int64.self)),
                lastPost: try row["m_id"].decode(String?.self) == nil ? nil : try Self.decodeMessage(row, prefix: "m_", conversation: id))
        }
    }

    public func memberships(of users: Set<UserID>) async throws -> [UserID: [ConversationID: Membership]] {
        guard !users.isEmpty else { return [:] }
        let rows = try await rows(
            """
            SELECT p.user_id, c.id, c.last_seq, p.delivered_seq FROM participants p JOIN conversations c ON c.id = p.conversation_id
            WHERE p.user_id = ANY(\(users.map(\.rawValue))::text[])
            """)
        var result: [UserID: [ConversationID: Membership]] = [:]
        for row in rows {
            let (user, id, last, delivered) = try row.decode((String, String, Int64, Int64).self)
            result[UserID(trusted: user), default: [:]][ConversationID(trusted: id)] = Membership(lastSeq: last, deliveredSeq: delivered)
        }
        return result
    }

    public func contacts(of user: UserID) async throws -> Set<UserID> {
        let rows = try await rows(
            """
            SELECT DISTINCT o.user_id FROM participants p JOIN participants o ON o.conversation_id = p.conversation_id
            WHERE p.user_id = \(user.rawValue) AND o.user_id <> p.user_id
            """)
        return Set(try rows.map { UserID(trusted: try $0.decode(String.self)) })
    }

    public func addParticipants(_ users: [UserID], role: Role, to id: ConversationID, at time: Timestamp) async throws
        -> Conversation
    {
        try await transaction { [logger] db in
            guard try await Self.exists(id, db, logger) else { throw ChatError.notFound("no such conversation") }
            // A newcomer starts with both watermarks at the current last seq: nothing from before is unread.
            _ = try await db.run(
                """
                INSERT INTO participants (conversation_id, user_id, role, joined_at, delivered_seq, read_seq)
                SELECT c.id, u.user_id, \(role.rawValue), \(time.milliseconds), c.last_seq, c.last_seq
                FROM conversations c, unnest(\(users.map(\.rawValue))::text[]) AS u (user_id)
                WHERE c.id = \(id.rawValue)
                ON CONFLICT DO NOTHING
                """, logger)
            return try await Self.loadConversation(id, db, logger)!
        }
    }

    public func removeParticipant(_ user: UserID, from id: ConversationID, promote: UserID?) async throws -> Conversation {
        try await transaction { [logger] db in
            guard try await Self.exists(id, db, logger) else { throw ChatError.notFound("no such conversation") }
            _ = try await db.run(
                "DELETE FROM participants WHERE conversation_id = \(id.rawValue) AND user_id = \(user.rawValue)", logger)
            if let promote {
                _ = try await db.run(
                    "UPDATE participants SET role = 'admin' WHERE conversation_id = \(id.rawValue) AND user_id = \(promote.rawValue)", logger)
            }
            return try await Self.loadConversation(id, db, logger)!
        }
    }

    public func setRole(_ role: Role, of user: UserID, in id: ConversationID) async throws -> Conversation {
        try await transaction { [logger] db in
            guard try await Self.exists(id, db, logger) else { throw ChatError.notFound("no such conversation") }
            _ = try await db.run(
                "UPDATE participants SET role = \(role.rawValue) WHERE conversation_id = \(id.rawValue) AND user_id = \(user.rawValue)", logger)
            return try await Self.loadConversation(id, db, logger)!
        }
    }

    // MARK: Messages

    public func append(_ draft: MessageDraft, placed: @escaping @Sendable () -> Void) async throws -> AppendResult {
        let metadata = try draft.metadata.map { try Self.encodeJSON($0) }
        return try await appends.submit(PendingAppend(draft: draft, metadata: metadata), placed: placed)
    }

    /// A draft and its metadata as JSON text, waiting for its batch.
    struct PendingAppend: Sendable {
        var draft: MessageDraft
        var metadata: String?
    }

    /// One batch of appends: one round trip and one transaction, within the deadline. A draft refused on
    /// its own (not a participant, closed, no such target) fails alone; anything else fails the whole
    /// batch, which stored nothing.
    static func append(_ batch: [PendingAppend], _ client: PostgresClient, _ logger: Logger, timeout: Duration) async
        -> [Result<AppendResult, any Error>]
    {
        do {
            return try await Deadline.run(after: timeout) { try await Self.appendBatch(batch, client, logger) }
        } catch {
            let mapped = map(error, logger)
            return batch.map { _ in .failure(mapped) }
        }
    }

    /// The fewest posts a batch of posts only must hold to be stored set-based: the set-based statement
    /// costs more than the loop for one draft and less from about six (pgbench on PostgreSQL alone:
    /// one post 0.29–0.41 ms against 0.23–0.26; twenty 0.9–1.7 against 1.4–2.3; bench/RESULTS.md,
    /// issue 16's tenth step). At low load every batch is one send; under load they hold 15 to 25.
    static let setBasedPostsFrom = 8

    /// One batch on `db` (a pooled client, or a connection inside a transaction): a batch of at least
    /// ``setBasedPostsFrom`` posts and nothing else by `switchboard_append_posts` (one set-based
    /// statement), any other by `switchboard_append_batch` (a loop over the drafts); the two return the
    /// same rows for the same posts. The drafts go ordered by
    /// conversation, in code-point order of the ids (both functions take the row locks in that order, so
    /// batches in flight together never deadlock), each conversation's in arrival order. The function
    /// checks that each sender is a participant (one probe of the participants' key, `v0009`) in the
    /// same statement; its `m_participants` column is left empty and not read; a
    /// refusal comes back as its draft's error.
    static func appendBatch(_ batch: [PendingAppend], _ db: some Queryable, _ logger: Logger) async throws
        -> [Result<AppendResult, any Error>]
    {
        let order = batch.indices.sorted {
            let (left, right) = (batch[$0].draft.conversation.rawValue.utf8, batch[$1].draft.conversation.rawValue.utf8)
            return left.elementsEqual(right) ? $0 < $1 : left.lexicographicallyPrecedes(right)
        }
        let drafts = order.map { batch[$0].draft }
        let metadata = order.map { batch[$0].draft.action.carriesContent ? (batch[$0].metadata ?? "") : "" }
        let rows =
            if drafts.count >= Self.setBasedPostsFrom && drafts.allSatisfy({ $0.action == .post }) {
                try await db.run(
                    AppendPostsStatement(
                        conversations: drafts.map(\.conversation.rawValue), ids: drafts.map(\.id.rawValue),
                        senders: drafts.map(\.sender.rawValue), clientIDs: drafts.map(\.clientID.rawValue),
                        kinds: drafts.map(\.kind.rawValue), contents: drafts.map(\.content), metadata: metadata,
                        times: drafts.map(\.createdAt.milliseconds)),
                    logger)
            } else {
                try await db.run(
                    AppendBatchStatement(
                        conversations: drafts.map(\.conversation.rawValue), ids: drafts.map(\.id.rawValue),
                        senders: drafts.map(\.sender.rawValue), clientIDs: drafts.map(\.clientID.rawValue),
                        kinds: drafts.map(\.kind.rawValue), actions: drafts.map(\.action.name),
                        targets: drafts.map { $0.action.target ?? 0 }, emojis: drafts.map { $0.action.emoji ?? "" },
                        contents: drafts.map { $0.action.carriesContent ? $0.content : "" }, metadata: metadata,
                        times: drafts.map(\.createdAt.milliseconds)),
                    logger)
            }
        var results = [Result<AppendResult, any Error>](repeating: .failure(ChatError.internal("the batch returned no row for a draft")), count: batch.count)
        for row in rows {
            let row = row.makeRandomAccess()
            let position = try row["b_index"].decode(Int.self) - 1
            guard order.indices.contains(position) else { throw ChatError.internal("the batch returned an unknown index") }
            if let code = try row["b_error"].decode(String?.self) {
                results[order[position]] = .failure(appendError(code) ?? ChatError.internal("the batch refused a draft with \(code)"))
            } else {
                results[order[position]] = .success(try appendResult(row, drafts[position]))
            }
        }
        return results
    }

    /// An append's row (`m_` columns) as the result of `draft`.
    private static func appendResult(_ row: PostgresRandomAccessRow, _ draft: MessageDraft) throws -> AppendResult {
        AppendResult(
            message: try decodeMessage(row, prefix: "m_", conversation: draft.conversation, sender: draft.sender, clientID: draft.clientID),
            created: try row["m_created"].decode(Bool.self))
    }

    /// One append on `db` (a batch of one, inside the caller's transaction): its refusal thrown.
    static func append(_ draft: MessageDraft, metadata: String?, _ db: some Queryable, _ logger: Logger) async throws
        -> AppendResult
    {
        try await appendBatch([PendingAppend(draft: draft, metadata: metadata)], db, logger)[0].get()
    }

    public func messages(in id: ConversationID, _ query: HistoryQuery) async throws -> HistoryPage {
        var sql: PostgresQuery = "SELECT \(unescaped: Self.messageColumns) FROM messages WHERE conversation_id = \(id.rawValue)"
        if let before = query.before {
            sql.sql += " AND seq < $\(sql.binds.count + 1)"
            sql.binds.append(before)
        }
        if let after = query.after {
            sql.sql += " AND seq > $\(sql.binds.count + 1)"
            sql.binds.append(after)
        }
        // Reading forward from `after` takes the oldest; otherwise the newest, reversed below.
        let ascending = query.after != nil && query.before == nil
        sql.sql += (ascending ? " ORDER BY seq ASC" : " ORDER BY seq DESC") + " LIMIT $\(sql.binds.count + 1)"
        sql.binds.append(query.limit + 1)
        let statement = sql
        return try await call { [client, logger] in
            let rows = try await client.run(statement, logger)
            var messages = try rows.prefix(query.limit).map { try Self.decodeMessage($0.makeRandomAccess(), prefix: "", conversation: id) }
            if !ascending { messages.reverse() }
            try await Self.attachReactions(&messages, in: id, client, logger)
            return HistoryPage(messages: messages, hasMore: rows.count > query.limit)
        }
    }

    public func message(_ seq: Seq, in id: ConversationID) async throws -> Message? {
        try await call { [client, logger] in
            let rows = try await client.run(
                "SELECT \(unescaped: Self.messageColumns) FROM messages WHERE conversation_id = \(id.rawValue) AND seq = \(seq)", logger)
            guard let row = rows.first else { return nil }
            var messages = [try Self.decodeMessage(row.makeRandomAccess(), prefix: "", conversation: id)]
            try await Self.attachReactions(&messages, in: id, client, logger)
            return messages.first
        }
    }

    // MARK: Receipts, archive, close

    public func markWatermarks(of user: UserID, in id: ConversationID, delivered: Seq?, read: Seq?) async throws -> Watermarks {
        // One statement: the clamped, forward-only move and the before and after values, under the row's lock.
        let rows = try await rows(
            """
            WITH old AS (
                SELECT p.delivered_seq, p.read_seq, c.last_seq
                FROM participants p JOIN conversations c ON c.id = p.conversation_id
                WHERE p.conversation_id = \(id.rawValue) AND p.user_id = \(user.rawValue)
                FOR UPDATE OF p
            ), nxt AS (
                SELECT old.*, LEAST(old.last_seq, GREATEST(old.read_seq, \(read ?? 0))) AS new_read FROM old
            ), moved AS (
                UPDATE participants p
                SET read_seq = nxt.new_read,
                    delivered_seq = LEAST(nxt.last_seq, GREATEST(nxt.delivered_seq, \(delivered ?? 0), nxt.new_read))
                FROM nxt
                WHERE p.conversation_id = \(id.rawValue) AND p.user_id = \(user.rawValue)
                RETURNING p.delivered_seq, p.read_seq
            )
            SELECT old.delivered_seq, old.read_seq, moved.delivered_seq, moved.read_seq FROM old, moved
            """)
        guard let row = rows.first else { throw ChatError.notFound("no such conversation") }
        let (oldDelivered, oldRead, newDelivered, newRead) = try row.decode((Int64, Int64, Int64, Int64).self)
        return Watermarks(
            deliveredSeq: newDelivered, readSeq: newRead, moved: newDelivered != oldDelivered || newRead != oldRead)
    }

    public func setArchived(_ archived: Bool, for user: UserID, in id: ConversationID) async throws {
        let rows = try await rows(
            """
            UPDATE participants SET archived = \(archived)
            WHERE conversation_id = \(id.rawValue) AND user_id = \(user.rawValue) RETURNING user_id
            """)
        guard !rows.isEmpty else { throw ChatError.notFound("no such conversation") }
    }

    public func close(_ id: ConversationID, at time: Timestamp) async throws -> Conversation {
        try await transaction { [logger] db in
            let closed = try await db.run(
                "UPDATE conversations SET closed_at = \(time.milliseconds) WHERE id = \(id.rawValue) AND closed_at IS NULL RETURNING id", logger)
            if !closed.isEmpty {
                _ = try await db.run("UPDATE participants SET archived = true WHERE conversation_id = \(id.rawValue)", logger)
                _ = try await db.run(
                    """
                    UPDATE support_requests SET status = 'closed', closed_at = \(time.milliseconds), open_key = NULL
                    WHERE conversation_id = \(id.rawValue) AND status <> 'closed'
                    """, logger)
            }
            guard let conversation = try await Self.loadConversation(id, db, logger) else {
                throw ChatError.notFound("no such conversation")
            }
            return conversation
        }
    }
}

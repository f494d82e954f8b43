import ChatCore
import Foundation
import Logging
import PostgresNIO

/// Something that runs one statement and returns its rows: the pool (autocommit) or one connection
/// inside a transaction. The store's row helpers work on either.
protocol Queryable: Sendable {
    @discardableResult func run(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow]
    /// Runs a statement the connection prepares once and keeps (parsed and planned once per
    /// connection, not at every call): for the calls made many times a second.
    func run<Statement: PostgresPreparedStatement>(_ statement: Statement, _ logger: Logger) async throws -> [PostgresRow]
    where Statement.Row == PostgresRow
}

extension PostgresClient: Queryable {
    @discardableResult func run(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }

    func run<Statement: PostgresPreparedStatement>(_ statement: Statement, _ logger: Logger) async throws -> [PostgresRow]
    where Statement.Row == PostgresRow {
        let rows: AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow> = try await self.execute(statement, logger: logger)
        return try await rows.reduce(into: []) { $0.append($1) }
    }
}

extension PostgresConnection: Queryable {
    @discardableResult func run(_ query: PostgresQuery, _ logger: Logger) async throws -> [PostgresRow] {
        try await self.query(query, logger: logger).collect()
    }

    func run<Statement: PostgresPreparedStatement>(_ statement: Statement, _ logger: Logger) async throws -> [PostgresRow]
    where Statement.Row == PostgresRow {
        let rows: AsyncThrowingMapSequence<PostgresRowSequence, PostgresRow> = try await self.execute(statement, logger: logger)
        return try await rows.reduce(into: []) { $0.append($1) }
    }
}

extension PostgresStore {
    static let conversationColumns =
        "c.id, c.kind, c.title, c.workspace, c.created_by, c.created_at, c.last_seq, c.last_activity_at, c.closed_at"
    /// The newest post `m` of a conversation, each column prefixed `m_` (see ``decodeMessage``).
    static let previewColumns = messageColumns.split(separator: ", ").map { "m.\($0) AS m_\($0)" }.joined(separator: ", ")
    static let participantColumns = "p.conversation_id, p.user_id, p.role, p.joined_at, p.delivered_seq, p.read_seq, p.archived"
    static let messageColumns =
        "seq, id, sender, client_id, kind, action, target_seq, emoji, content, metadata, created_at, edited_at, deleted_at"

    static func exists(_ id: ConversationID, _ db: some Queryable, _ logger: Logger) async throws -> Bool {
        try await !db.run("SELECT 1 FROM conversations WHERE id = \(id.rawValue)", logger).isEmpty
    }

    static func insertParticipants(
        _ users: [UserID], role: Role, in id: ConversationID, at time: Timestamp, _ db: some Queryable, _ logger: Logger
    ) async throws {
        guard !users.isEmpty else { return }
        _ = try await db.run(
            """
            INSERT INTO participants (conversation_id, user_id, role, joined_at)
            SELECT \(id.rawValue), u.user_id, \(role.rawValue), \(time.milliseconds)
            FROM unnest(\(users.map(\.rawValue))::text[]) AS u (user_id)
            """, logger)
    }

    /// The conversation with its participants, in one round trip.
    static func loadConversation(_ id: ConversationID, _ db: some Queryable, _ logger: Logger) async throws -> Conversation? {
        let rows = try await db.run(
            """
            SELECT \(unescaped: conversationColumns), \(unescaped: participantColumns)
            FROM conversations c LEFT JOIN participants p ON p.conversation_id = c.id
            WHERE c.id = \(id.rawValue)
            ORDER BY p.joined_at, p.user_id
            """, logger)
        guard let first = rows.first?.makeRandomAccess() else { return nil }
        var participants: [Participant] = []
        for row in rows {
            let columns = row.makeRandomAccess()
            if try columns["user_id"].decode(String?.self) != nil { participants.append(try decodeParticipant(columns)) }
        }
        return try decodeConversation(first, participants: [id: participants])
    }

    static func loadParticipants(_ ids: [ConversationID], _ db: some Queryable, _ logger: Logger) async throws
        -> [ConversationID: [Participant]]
    {
        guard !ids.isEmpty else { return [:] }
        let rows = try await db.run(
            """
            SELECT \(unescaped: participantColumns) FROM participants p
            WHERE p.conversation_id = ANY(\(ids.map(\.rawValue))::text[])
            ORDER BY p.joined_at, p.user_id
            """, logger)
        var result: [ConversationID: [Participant]] = [:]
        for row in rows {
            let columns = row.makeRandomAccess()
            result[ConversationID(trusted: try columns["conversation_id"].decode(String.self)), default: []]
                .append(try decodeParticipant(columns))
        }
        return result
    }

    /// Fills in the reactions of the posts in `messages` (one range read).
    static func attachReactions(_ messages: inout [Message], in id: ConversationID, _ db: some Queryable, _ logger: Logger)
        async throws
    {
        let posts = messages.filter { $0.action == .post && !$0.isDeleted }.map(\.seq)
        guard let low = posts.min(), let high = posts.max() else { return }
        let rows = try await db.run(
            """
            SELECT seq, emoji, user_id FROM reactions
            WHERE conversation_id = \(id.rawValue) AND seq BETWEEN \(low) AND \(high)
            ORDER BY seq, emoji, created_at, user_id
            """, logger)
        guard !rows.isEmpty else { return }
        var bySeq: [Seq: [Reaction]] = [:]
        for row in rows {
            let (seq, emoji, user) = try row.decode((Int64, String, String).self)
            if let index = bySeq[seq]?.firstIndex(where: { $0.emoji == emoji }) {
                bySeq[seq]![index].users.append(UserID(trusted: user))
            } else {
                bySeq[seq, default: []].append(Reaction(emoji: emoji, users: [UserID(trusted: user)]))
            }
        }
        for index in messages.indices where messages[index].action == .post {
            messages[index].reactions = bySeq[messages[index].seq] ?? []
        }
    }

    static func decodeParticipant(_ row: PostgresRandomAccessRow) throws -> Participant {
        Participant(
            user: UserID(trusted: try row["user_id"].decode(String.self)),
            role: Role(rawValue: try row["role"].decode(String.self)) ?? .member,
            joinedAt: Timestamp(milliseconds: try row["joined_at"].decode(Int64.self)),
            deliveredSeq: try row["delivered_seq"].decode(Int64.self),
            readSeq: try row["read_seq"].decode(Int64.self),
            archived: try row["archived"].decode(Bool.self))
    }

    static func decodeConversation(_ row: PostgresRandomAccessRow, participants: [ConversationID: [Participant]]) throws
        -> Conversation
    {
        let id = ConversationID(trusted: try row["id"].decode(String.self))
        return Conversation(
            id: id,
            kind: ConversationKind(rawValue: try row["kind"].decode(String.self)) ?? .group,
            title: try row["title"].decode(String?.self),
            workspace: try row["workspace"].decode(String?.self).map(WorkspaceID.init(trusted:)),
            createdBy: UserID(trusted: try row["created_by"].decode(String.self)),
            createdAt: Timestamp(milliseconds: try row["created_at"].decode(Int64.self)),
            lastSeq: try row["last_seq"].decode(Int64.self),
            lastActivityAt: Timestamp(milliseconds: try row["last_activity_at"].decode(Int64.self)),
            closedAt: try row["closed_at"].decode(Int64?.self).map(Timestamp.init(milliseconds:)),
            participants: participants[id] ?? [])
    }

    /// A message from columns named `prefix + column`; sender and client id come from the caller when the
    /// row does not carry them (the append function's result).
    static func decodeMessage(
        _ row: PostgresRandomAccessRow, prefix: String, conversation: ConversationID, sender: UserID? = nil,
        clientID: ClientMessageID? = nil
    ) throws -> Message {
        func string(_ name: String) throws -> String? { try row[prefix + name].decode(String?.self) }
        func int(_ name: String) throws -> Int64? { try row[prefix + name].decode(Int64?.self) }
        let action = MessageAction(name: try string("action") ?? "post", target: try int("target_seq"), emoji: try string("emoji")) ?? .post
        guard let id = try string("id"), let seq = try int("seq"), let kind = try string("kind"),
            let createdAt = try int("created_at"),
            let sender = try sender ?? string("sender").map(UserID.init(trusted:)),
            let clientID = try clientID ?? string("client_id").map(ClientMessageID.init(trusted:))
        else { throw ChatError.internal("a stored message is missing a column") }
        return Message(
            id: MessageID(trusted: id),
            conversation: conversation,
            seq: seq,
            sender: sender,
            clientID: clientID,
            action: action,
            kind: MessageKind(rawValue: kind) ?? .text,
            content: try string("content") ?? "",
            metadata: try string("metadata").flatMap { try? decodeJSON($0) },
            createdAt: Timestamp(milliseconds: createdAt),
            editedAt: try int("edited_at").map(Timestamp.init(milliseconds:)),
            deletedAt: try int("deleted_at").map(Timestamp.init(milliseconds:)))
    }

    static func encodeJSON(_ value: JSONValue) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    static func decodeJSON(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }
}

/// One call of `switchboard_append_batch`, prepared once per connection: the group commit's call is the
/// store's most frequent, and an unnamed statement is parsed and planned again at every call (about
/// 0.14 ms of the database's time per batch here; bench/RESULTS.md, issue 16's ninth step). The
/// arrays are the drafts' fields in the function's order, one element per draft.
struct AppendBatchStatement: PostgresPreparedStatement {
    /// The name the connection keeps it under: a constant, where the protocol's default spells the
    /// type's name anew (a runtime type lookup and a string) at every call.
    static let name = "switchboard_append_batch"
    static let sql = "SELECT * FROM switchboard_append_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    typealias Row = PostgresRow

    var conversations: [String]
    var ids: [String]
    var senders: [String]
    var clientIDs: [String]
    var kinds: [String]
    var actions: [String]
    var targets: [Int64]
    var emojis: [String]
    var contents: [String]
    var metadata: [String]
    var times: [Int64]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 11)
        for texts in [conversations, ids, senders, clientIDs, kinds, actions] { bindings.append(texts) }
        bindings.append(targets)
        for texts in [emojis, contents, metadata] { bindings.append(texts) }
        bindings.append(times)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// One call of `switchboard_append_posts` (migration 8), prepared once per connection like
/// ``AppendBatchStatement``: a batch of posts only, stored set-based in one statement with the same rows
/// and rules as the batch function. The arrays are the drafts' fields in the function's order.
struct AppendPostsStatement: PostgresPreparedStatement {
    /// A constant, as ``AppendBatchStatement/name``.
    static let name = "switchboard_append_posts"
    static let sql = "SELECT * FROM switchboard_append_posts($1, $2, $3, $4, $5, $6, $7, $8)"
    typealias Row = PostgresRow

    var conversations: [String]
    var ids: [String]
    var senders: [String]
    var clientIDs: [String]
    var kinds: [String]
    var contents: [String]
    var metadata: [String]
    var times: [Int64]

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 8)
        for texts in [conversations, ids, senders, clientIDs, kinds, contents, metadata] { bindings.append(texts) }
        bindings.append(times)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

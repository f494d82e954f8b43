import ChatCore

/// A validated request: every id parsed, every field present. What the chat service executes, whether
/// it came over a WebSocket frame or a REST route.
public enum Command: Sendable, Hashable {
    case createDirect(with: UserID, workspace: WorkspaceID?)
    case createGroup(title: String, participants: [UserID], workspace: WorkspaceID?)
    case listConversations(cursor: ConversationCursor?, limit: Int?, workspace: WorkspaceID?)
    case getConversation(ConversationID)
    case addParticipants(ConversationID, users: [UserID], role: Role)
    case removeParticipant(ConversationID, user: UserID)
    case setRole(ConversationID, user: UserID, role: Role)
    case leave(ConversationID)
    case send(ConversationID, clientID: ClientMessageID, kind: MessageKind, content: String, metadata: JSONValue?)
    case history(ConversationID, before: Seq?, after: Seq?, limit: Int?)
}

/// Turns request bodies into ``Command``s, naming the offending field in every `validation` error.
public enum Validate {
    public static func user(_ value: String?, field: String = "user") throws(ChatError) -> UserID {
        guard let value else { throw .validation("missing field '\(field)'") }
        guard let id = UserID(value) else { throw .validation("'\(field)' is not a valid user id") }
        return id
    }

    public static func conversation(_ value: String?, field: String = "conversation") throws(ChatError) -> ConversationID {
        guard let value else { throw .validation("missing field '\(field)'") }
        guard let id = ConversationID(value) else { throw .validation("'\(field)' is not a valid conversation id") }
        return id
    }

    public static func workspace(_ value: String?) throws(ChatError) -> WorkspaceID? {
        guard let value else { return nil }
        guard let id = WorkspaceID(value) else { throw .validation("'workspace' is not a valid workspace id") }
        return id
    }

    public static func cursor(_ value: String?) throws(ChatError) -> ConversationCursor? {
        guard let value else { return nil }
        guard let cursor = ConversationCursor(token: value) else { throw .validation("'cursor' is not a cursor this server issued") }
        return cursor
    }

    public static func users(_ values: [String], field: String) throws(ChatError) -> [UserID] {
        var result: [UserID] = []
        for value in values { result.append(try user(value, field: field)) }
        return result
    }

    public static func createDirect(_ body: CreateDirectRequest) throws(ChatError) -> Command {
        .createDirect(with: try user(body.user), workspace: try workspace(body.workspace))
    }

    public static func createGroup(_ body: CreateGroupRequest) throws(ChatError) -> Command {
        .createGroup(title: body.title, participants: try users(body.participants, field: "participants"), workspace: try workspace(body.workspace))
    }

    public static func list(_ body: ListConversationsRequest) throws(ChatError) -> Command {
        .listConversations(cursor: try cursor(body.cursor), limit: body.limit, workspace: try workspace(body.workspace))
    }

    public static func addParticipants(_ body: AddParticipantsRequest, conversation id: String? = nil) throws(ChatError) -> Command {
        .addParticipants(try conversation(id ?? body.conversation), users: try users(body.users, field: "users"), role: body.role ?? .member)
    }

    public static func setRole(_ body: SetRoleRequest, conversation id: String? = nil, user name: String? = nil) throws(ChatError) -> Command {
        .setRole(try conversation(id ?? body.conversation), user: try user(name ?? body.user), role: body.role)
    }

    public static func send(_ body: SendRequest, conversation id: String? = nil) throws(ChatError) -> Command {
        guard let clientID = ClientMessageID(body.clientID) else {
            throw .validation("'client_id' must be 1 to 64 bytes without spaces or control characters")
        }
        return .send(try conversation(id ?? body.conversation), clientID: clientID, kind: body.kind ?? .text, content: body.content, metadata: body.metadata)
    }

    public static func history(_ body: HistoryRequest, conversation id: String? = nil) throws(ChatError) -> Command {
        .history(try conversation(id ?? body.conversation), before: body.before, after: body.after, limit: body.limit)
    }
}

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
    /// Appends an edit, delete, react or unreact entry (never `.post`: that is `send`).
    case act(ConversationID, MessageAction, clientID: ClientMessageID?, content: String, metadata: JSONValue?)
    case markReceipt(ConversationID, delivered: Seq?, read: Seq?)
    case typing(ConversationID)
    case presence([UserID])
    case archive(ConversationID, archived: Bool)
    case close(ConversationID)
    case openSupport(workspace: WorkspaceID, subject: String?, kind: MessageKind, content: String, metadata: JSONValue?, clientID: ClientMessageID?)
    case supportQueue(workspace: WorkspaceID, limit: Int?)
    case claimSupport(SupportRequestID)

    /// The request type that carries this command on a WebSocket.
    public var requestType: RequestType {
        switch self {
        case .createDirect: .createDirect
        case .createGroup: .createGroup
        case .listConversations: .listConversations
        case .getConversation: .getConversation
        case .addParticipants: .addParticipants
        case .removeParticipant: .removeParticipant
        case .setRole: .setRole
        case .leave: .leave
        case .send: .send
        case .history: .history
        case .act(_, let action, _, _, _):
            switch action {
            case .post: .send
            case .edit: .edit
            case .delete: .delete
            case .react: .react
            case .unreact: .unreact
            }
        case .markReceipt: .receipt
        case .typing: .typing
        case .presence: .presence
        case .archive(_, let archived): archived ? .archive : .unarchive
        case .close: .close
        case .openSupport: .supportOpen
        case .supportQueue: .supportQueue
        case .claimSupport: .supportClaim
        }
    }
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
            throw .validation("'client_id' must be 1 to 64 characters without spaces or control characters")
        }
        return .send(try conversation(id ?? body.conversation), clientID: clientID, kind: body.kind ?? .text, content: body.content, metadata: body.metadata)
    }

    public static func clientID(_ value: String?) throws(ChatError) -> ClientMessageID? {
        guard let value else { return nil }
        guard let id = ClientMessageID(value) else {
            throw .validation("'client_id' must be 1 to 64 characters without spaces or control characters")
        }
        return id
    }

    public static func seq(_ value: Int64?, field: String = "seq") throws(ChatError) -> Seq {
        guard let value else { throw .validation("missing field '\(field)'") }
        guard value >= 1 else { throw .validation("'\(field)' must be at least 1") }
        return value
    }

    public static func edit(_ body: EditRequest, conversation id: String? = nil, seq number: Int64? = nil) throws(ChatError) -> Command {
        .act(
            try conversation(id ?? body.conversation), .edit(target: try seq(number ?? body.seq)), clientID: try clientID(body.clientID),
            content: body.content, metadata: body.metadata)
    }

    public static func delete(_ body: DeleteRequest, conversation id: String? = nil, seq number: Int64? = nil) throws(ChatError) -> Command {
        .act(try conversation(id ?? body.conversation), .delete(target: try seq(number ?? body.seq)), clientID: try clientID(body.clientID), content: "", metadata: nil)
    }

    public static func reaction(
        _ body: ReactionRequest, add: Bool, conversation id: String? = nil, seq number: Int64? = nil
    ) throws(ChatError) -> Command {
        let target = try seq(number ?? body.seq)
        let action: MessageAction = add ? .react(target: target, emoji: body.emoji) : .unreact(target: target, emoji: body.emoji)
        return .act(try conversation(id ?? body.conversation), action, clientID: try clientID(body.clientID), content: "", metadata: nil)
    }

    public static func receipt(_ body: ReceiptRequest, conversation id: String? = nil) throws(ChatError) -> Command {
        guard body.delivered != nil || body.read != nil else { throw .validation("name 'delivered' or 'read'") }
        if let delivered = body.delivered, delivered < 0 { throw .validation("'delivered' must not be negative") }
        if let read = body.read, read < 0 { throw .validation("'read' must not be negative") }
        return .markReceipt(try conversation(id ?? body.conversation), delivered: body.delivered, read: body.read)
    }

    public static func presence(_ body: PresenceRequest) throws(ChatError) -> Command {
        guard !body.users.isEmpty else { throw .validation("name at least one user") }
        return .presence(try users(body.users, field: "users"))
    }

    /// Resume positions from an `auth` frame: conversation id to the last seq the client saw.
    public static func resume(_ positions: [String: Int64]?) throws(ChatError) -> [ConversationID: Seq] {
        var result: [ConversationID: Seq] = [:]
        for (key, value) in positions ?? [:] {
            guard let id = ConversationID(key) else { throw .validation("'resume' names an invalid conversation id") }
            guard value >= 0 else { throw .validation("'resume' seqs must not be negative") }
            result[id] = value
        }
        return result
    }

    public static func supportOpen(_ body: SupportOpenRequest) throws(ChatError) -> Command {
        guard let workspace = try workspace(body.workspace) else { throw .validation("missing field 'workspace'") }
        return .openSupport(
            workspace: workspace, subject: body.subject, kind: body.kind ?? .text, content: body.content, metadata: body.metadata,
            clientID: try clientID(body.clientID))
    }

    public static func supportQueue(workspace name: String?, limit: Int?) throws(ChatError) -> Command {
        guard let workspace = try workspace(name) else { throw .validation("missing field 'workspace'") }
        return .supportQueue(workspace: workspace, limit: limit)
    }

    public static func supportRequest(_ value: String?) throws(ChatError) -> SupportRequestID {
        guard let value else { throw .validation("missing field 'request'") }
        guard let id = SupportRequestID(value) else { throw .validation("'request' is not a valid support request id") }
        return id
    }

    public static func history(_ body: HistoryRequest, conversation id: String? = nil) throws(ChatError) -> Command {
        .history(try conversation(id ?? body.conversation), before: body.before, after: body.after, limit: body.limit)
    }
}

import ChatCore

// The support desk's requests, replies and events. Same shapes over WebSocket payloads and REST bodies.

/// `support.open`: a customer asks a workspace's desk for help. `content` (with `kind` and `metadata`,
/// as in a send) describes the problem and becomes the conversation's first message.
public struct SupportOpenRequest: Codable, Sendable, Hashable {
    public var workspace: String
    public var subject: String?
    public var kind: MessageKind?
    public var content: String
    public var metadata: JSONValue?
    public var clientID: String?

    enum CodingKeys: String, CodingKey {
        case workspace, subject, kind, content, metadata
        case clientID = "client_id"
    }

    public init(workspace: String, subject: String? = nil, kind: MessageKind? = nil, content: String, metadata: JSONValue? = nil, clientID: String? = nil) {
        self.workspace = workspace
        self.subject = subject
        self.kind = kind
        self.content = content
        self.metadata = metadata
        self.clientID = clientID
    }
}

/// `support.queue`: a workspace's waiting requests (its agents only).
public struct SupportQueueRequest: Codable, Sendable, Hashable {
    public var workspace: String
    public var limit: Int?
    public init(workspace: String, limit: Int? = nil) {
        self.workspace = workspace
        self.limit = limit
    }
}

/// `support.claim`: an agent takes a waiting request.
public struct SupportClaimRequest: Codable, Sendable, Hashable {
    public var request: String
    public init(request: String) { self.request = request }
}

/// A support request on the wire. `agent` is who holds it (or last held it, once closed).
public struct SupportRequestBody: Codable, Sendable, Hashable {
    public var id: String
    public var workspace: String
    public var customer: String
    public var conversation: String
    public var subject: String?
    public var status: String
    public var agent: String?
    public var createdAt: Int64
    public var claimedAt: Int64?
    public var answeredAt: Int64?
    public var closedAt: Int64?

    enum CodingKeys: String, CodingKey {
        case id, workspace, customer, conversation, subject, status, agent
        case createdAt = "created_at"
        case claimedAt = "claimed_at"
        case answeredAt = "answered_at"
        case closedAt = "closed_at"
    }

    public init(_ request: SupportRequest) {
        id = request.id.rawValue
        workspace = request.workspace.rawValue
        customer = request.customer.rawValue
        conversation = request.conversation.rawValue
        subject = request.subject
        status = request.state.name
        agent = request.state.claim?.agent.rawValue
        createdAt = request.createdAt.milliseconds
        claimedAt = request.state.claim?.claimedAt.milliseconds
        answeredAt = request.state.claim?.answeredAt?.milliseconds
        if case .closed(let at, _) = request.state { closedAt = at.milliseconds } else { closedAt = nil }
    }
}

/// Reply to `support.open`: the request and its conversation; `created` is false when the customer
/// already had an open request in the workspace (that one is returned).
public struct SupportOpenReply: Codable, Sendable, Hashable {
    public var request: SupportRequestBody
    public var conversation: ConversationBody
    public var created: Bool
    public init(request: SupportRequestBody, conversation: ConversationBody, created: Bool) {
        self.request = request
        self.conversation = conversation
        self.created = created
    }
}

/// Reply to `support.queue`: waiting requests, oldest first.
public struct SupportQueueReply: Codable, Sendable, Hashable {
    public var requests: [SupportRequestBody]
    public init(requests: [SupportRequestBody]) { self.requests = requests }
}

/// Reply to `support.claim`. `outcome` is `won` (you hold the request; `conversation` is its
/// conversation, which you have joined) or `claimed` (another agent holds it: `request.agent` says who).
public struct SupportClaimReply: Codable, Sendable, Hashable {
    public var outcome: String
    public var request: SupportRequestBody
    public var conversation: ConversationBody?
    public init(outcome: String, request: SupportRequestBody, conversation: ConversationBody?) {
        self.outcome = outcome
        self.request = request
        self.conversation = conversation
    }

    public static func of(_ outcome: SupportClaimOutcome) -> SupportClaimReply {
        switch outcome {
        case .won(let request, let conversation), .held(let request, let conversation):
            SupportClaimReply(outcome: "won", request: SupportRequestBody(request), conversation: ConversationBody(conversation))
        case .taken(let request):
            SupportClaimReply(outcome: "claimed", request: SupportRequestBody(request), conversation: nil)
        }
    }
}

/// `support.queued`, `support.claimed` and `support.closed` events, to the workspace's agents.
public struct SupportEvent: Codable, Sendable, Hashable {
    public var request: SupportRequestBody
    public init(request: SupportRequestBody) { self.request = request }
}

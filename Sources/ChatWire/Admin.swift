import ChatCore

// The admin API's JSON shapes (docs/protocol.md "Admin API"). Same conventions as the rest of the
// wire: snake_case keys, times in milliseconds since the Unix epoch.

/// One authenticated connection as the admin API lists it.
public struct SessionBody: Codable, Sendable, Hashable {
    public var connection: String
    public var user: String
    public var connectedAt: Int64

    enum CodingKeys: String, CodingKey {
        case connection, user
        case connectedAt = "connected_at"
    }

    public init(connection: String, user: String, connectedAt: Int64) {
        self.connection = connection
        self.user = user
        self.connectedAt = connectedAt
    }
}

/// What a node tells the rest of the cluster about itself, every `admin.report.interval.ms`: the
/// admin API's view of a node. Counters are totals since the node started (a page computes rates from
/// two readings); `sessions_listed` holds at most `admin.report.sessions` sessions, newest first, out
/// of `sessions`.
public struct NodeReportBody: Codable, Sendable, Hashable {
    public var node: String
    /// `embedded` (SQLite and in-process engines) or `cluster` (PostgreSQL and Redis).
    public var engine: String
    public var startedAt: Int64
    public var reportedAt: Int64
    public var ready: Bool
    /// Open WebSockets, authenticated or not.
    public var connections: Int
    /// Authenticated connections.
    public var sessions: Int
    /// Distinct users among the sessions.
    public var users: Int
    public var sessionsListed: [SessionBody]
    /// Frames received from clients.
    public var framesIn: Int
    /// Events written to clients (one per recipient connection).
    public var eventsOut: Int
    /// Errors answered, by code (WebSocket and REST).
    public var errors: [String: Int]

    enum CodingKeys: String, CodingKey {
        case node, engine, ready, connections, sessions, users, errors
        case startedAt = "started_at"
        case reportedAt = "reported_at"
        case sessionsListed = "sessions_listed"
        case framesIn = "frames_in"
        case eventsOut = "events_out"
    }

    public init(
        node: String, engine: String, startedAt: Int64, reportedAt: Int64, ready: Bool, connections: Int, sessions: Int, users: Int,
        sessionsListed: [SessionBody], framesIn: Int, eventsOut: Int, errors: [String: Int]
    ) {
        self.node = node
        self.engine = engine
        self.startedAt = startedAt
        self.reportedAt = reportedAt
        self.ready = ready
        self.connections = connections
        self.sessions = sessions
        self.users = users
        self.sessionsListed = sessionsListed
        self.framesIn = framesIn
        self.eventsOut = eventsOut
        self.errors = errors
    }
}

/// `GET /v1/admin/nodes`.
public struct NodesReply: Codable, Sendable, Hashable {
    public var nodes: [NodeReportBody]
    public init(nodes: [NodeReportBody]) { self.nodes = nodes }
}

/// A dead letter as the admin API shows it; `payload` is its text when it is UTF-8.
public struct DeadLetterBody: Codable, Sendable, Hashable {
    public var id: String
    public var kind: String
    public var attempts: Int
    public var payload: String?
    public var payloadBytes: Int

    enum CodingKeys: String, CodingKey {
        case id, kind, attempts, payload
        case payloadBytes = "payload_bytes"
    }

    public init(_ job: Job) {
        id = job.id
        kind = job.kind
        attempts = job.attempt + 1
        payload = String(validating: job.payload, as: UTF8.self)
        payloadBytes = job.payload.count
    }
}

/// `GET /v1/admin/jobs`: the cluster's job queue.
public struct JobsReply: Codable, Sendable, Hashable {
    /// Jobs waiting or running, by kind.
    public var pending: [String: Int]
    /// When the oldest job not yet claimed was (or is) due.
    public var earliestDueAt: Int64?
    public var deadLetterCount: Int
    /// The newest dead letters (at most the request's `limit`), oldest first.
    public var deadLetters: [DeadLetterBody]

    enum CodingKeys: String, CodingKey {
        case pending
        case earliestDueAt = "earliest_due_at"
        case deadLetterCount = "dead_letter_count"
        case deadLetters = "dead_letters"
    }

    public init(_ stats: JobQueueStats, deadLetters: [Job]) {
        pending = stats.pending
        earliestDueAt = stats.earliestDue?.milliseconds
        deadLetterCount = stats.deadLetters
        self.deadLetters = deadLetters.map(DeadLetterBody.init)
    }
}

/// `POST /v1/admin/jobs/dead/{id}/retry` and `DELETE /v1/admin/jobs/dead/{id}`.
public struct DeadLetterActionReply: Codable, Sendable, Hashable {
    public var id: String
    /// `requeued` or `dropped`.
    public var done: String
    public init(id: String, done: String) {
        self.id = id
        self.done = done
    }
}

/// `POST /demo/token` (the demo page's sign-in, only where the demo is on).
public struct DemoTokenRequest: Codable, Sendable, Hashable {
    public var user: String
    public var name: String?
    /// Only `agent:WORKSPACE` roles may be asked for.
    public var roles: [String]?
    public init(user: String, name: String? = nil, roles: [String]? = nil) {
        self.user = user
        self.name = name
        self.roles = roles
    }
}

/// The demo page's token.
public struct DemoTokenReply: Codable, Sendable, Hashable {
    public var token: String
    public var expiresAt: Int64

    enum CodingKeys: String, CodingKey {
        case token
        case expiresAt = "expires_at"
    }

    public init(token: String, expiresAt: Int64) {
        self.token = token
        self.expiresAt = expiresAt
    }
}

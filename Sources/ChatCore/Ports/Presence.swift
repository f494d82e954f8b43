/// A user going online (first live connection anywhere) or offline (last one gone or expired).
public enum PresenceTransition: Sendable, Hashable {
    case online(UserID)
    case offline(UserID, lastSeen: Timestamp)

    public var user: UserID {
        switch self {
        case .online(let user), .offline(let user, _): user
        }
    }
}

/// What is known of a user's presence.
public struct UserPresence: Sendable, Hashable {
    public var user: UserID
    public var online: Bool
    /// When the user's last connection went away; nil while online or when never seen.
    public var lastSeen: Timestamp?

    public init(user: UserID, online: Bool, lastSeen: Timestamp?) {
        self.user = user
        self.online = online
        self.lastSeen = lastSeen
    }
}

/// Who is online. Each connection is an entry with a TTL that its node's heartbeat refreshes, so a
/// connection whose node vanished expires instead of staying online.
///
/// Contract: a user is online while at least one unexpired entry exists; `connect` reports `.online`
/// only for the first entry, `disconnect` and `expire` report `.offline` only for the last, with the
/// last-seen time; an entry not refreshed within its TTL is gone; operations on unknown connections
/// are no-ops.
public protocol Presence: Sendable {
    func connect(_ connection: ConnectionID, user: UserID, node: NodeID, ttl: Duration) async throws
        -> PresenceTransition?
    /// Refreshes the node's entries for `connections` (each with its user: an engine may keep a user's
    /// entries together).
    func heartbeat(_ connections: [(connection: ConnectionID, user: UserID)], node: NodeID, ttl: Duration) async throws
    func disconnect(_ connection: ConnectionID, user: UserID) async throws -> PresenceTransition?
    func status(of users: [UserID]) async throws -> [UserPresence]
    /// Removes entries past their TTL and reports the users who went offline because of it.
    func expire() async throws -> [PresenceTransition]
}

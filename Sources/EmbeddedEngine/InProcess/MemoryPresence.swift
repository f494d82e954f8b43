import ChatCore

/// The embedded ``Presence``: connection entries with expiry times, in memory, on an injected clock.
///
/// Guarantees: the ``Presence`` contract; memory is bounded by live connections plus one last-seen
/// time per user seen (at most `maxRememberedUsers`, the oldest forgotten first).
public actor MemoryPresence: Presence {
    private struct Entry {
        var user: UserID
        var node: NodeID
        var expiresAt: Timestamp
    }
    private let clock: any WallClock
    private let maxRememberedUsers: Int
    private var entries: [ConnectionID: Entry] = [:]
    /// Each user's connections: a user is online while this set holds an unexpired entry.
    private var connections: [UserID: Set<ConnectionID>] = [:]
    private var lastSeen: [UserID: Timestamp] = [:]

    public init(clock: any WallClock, maxRememberedUsers: Int = 100_000) {
        self.clock = clock
        self.maxRememberedUsers = maxRememberedUsers
    }

    public func connect(_ connection: ConnectionID, user: UserID, node: NodeID, ttl: Duration) -> PresenceTransition? {
        let now = clock.now()
        if entries[connection] != nil {
            entries[connection]?.expiresAt = now.advanced(by: ttl)
            return nil
        }
        entries[connection] = Entry(user: user, node: node, expiresAt: now.advanced(by: ttl))
        connections[user, default: []].insert(connection)
        return connections[user]?.count == 1 ? .online(user) : nil
    }

    public func heartbeat(_ connections: [(connection: ConnectionID, user: UserID)], node: NodeID, ttl: Duration) {
        let deadline = clock.now().advanced(by: ttl)
        for (connection, _) in connections where entries[connection]?.node == node {
            entries[connection]?.expiresAt = deadline
        }
    }

    public func disconnect(_ connection: ConnectionID, user: UserID) -> PresenceTransition? {
        guard let entry = entries.removeValue(forKey: connection) else { return nil }
        return drop(connection, of: entry.user, at: clock.now())
    }

    public func status(of users: [UserID]) -> [UserPresence] {
        let now = clock.now()
        return users.map { user in
            let online = connections[user]?.contains { (entries[$0]?.expiresAt ?? now) > now } ?? false
            return UserPresence(user: user, online: online, lastSeen: online ? nil : lastSeen[user])
        }
    }

    public func expire() -> [PresenceTransition] {
        let now = clock.now()
        let expired = entries.filter { $0.value.expiresAt <= now }
        var transitions: [PresenceTransition] = []
        for (connection, entry) in expired {
            entries[connection] = nil
            if let transition = drop(connection, of: entry.user, at: entry.expiresAt) { transitions.append(transition) }
        }
        return transitions
    }

    private func drop(_ connection: ConnectionID, of user: UserID, at time: Timestamp) -> PresenceTransition? {
        connections[user]?.remove(connection)
        guard connections[user]?.isEmpty ?? true else { return nil }
        connections[user] = nil
        if lastSeen.count >= maxRememberedUsers, lastSeen[user] == nil,
            let oldest = lastSeen.min(by: { $0.value < $1.value })?.key
        {
            lastSeen[oldest] = nil
        }
        lastSeen[user] = time
        return .offline(user, lastSeen: time)
    }
}

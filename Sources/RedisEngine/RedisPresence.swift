import ChatCore
import RedisClient

/// The ``Presence`` on Redis. Every change is one Lua script, atomic on the server and timed by the
/// server's clock (`TIME`), so nodes with skewed clocks agree on expiry. Keys, all under one hash tag
/// (`PREFIX:{presence}`, one cluster slot, so scripts may touch any of them):
///
/// - `…:conn` hash: connection → user and node;
/// - `…:user:USER` set: the user's connections;
/// - `…:entries:NODE` sorted set: the node's connections, scored by expiry;
/// - `…:nodes` sorted set: each node's liveness record, scored by expiry (refreshed by its heartbeat);
/// - `…:seen` hash: user → last seen.
///
/// Guarantees, beyond the port's contract: any live node's sweep (``expire()``) clears a dead node's
/// entries once its liveness record lapses, and reports each user it leaves with no entry exactly once
/// (the script is atomic, so two nodes sweeping at once cannot both report a user); ``status(of:)``
/// counts only unexpired entries, swept or not.
public struct RedisPresence: Presence {
    static let connectScript = RedisScript(String(decoding: PackageResources.presence_connect_lua, as: UTF8.self))
    static let disconnectScript = RedisScript(String(decoding: PackageResources.presence_disconnect_lua, as: UTF8.self))
    static let heartbeatScript = RedisScript(String(decoding: PackageResources.presence_heartbeat_lua, as: UTF8.self))
    static let expireScript = RedisScript(String(decoding: PackageResources.presence_expire_lua, as: UTF8.self))
    static let statusScript = RedisScript(String(decoding: PackageResources.presence_status_lua, as: UTF8.self))
    /// Connections per heartbeat script call: bounds how long one call holds the server.
    static let heartbeatBatch = 1000

    private let client: any RedisCommands
    private let base: RedisArgument

    public init(client: any RedisCommands, prefix: String) {
        self.client = client
        self.base = RedisArgument("\(prefix):{presence}")
    }

    public func connect(_ connection: ConnectionID, user: UserID, node: NodeID, ttl: Duration) async throws -> PresenceTransition? {
        try await mappingRedisErrors {
            let reply = try await client.run(
                Self.connectScript, keys: [base],
                arguments: [RedisArgument(connection.rawValue), RedisArgument(user.rawValue), RedisArgument(node.rawValue), RedisArgument(ttl.milliseconds)])
            return reply == .integer(1) ? .online(user) : nil
        }
    }

    public func heartbeat(_ connections: [ConnectionID], node: NodeID, ttl: Duration) async throws {
        let head = [RedisArgument(node.rawValue), RedisArgument(ttl.milliseconds)]
        try await mappingRedisErrors {
            var start = 0
            repeat {
                let batch = connections[start..<min(start + Self.heartbeatBatch, connections.count)]
                try await client.run(Self.heartbeatScript, keys: [base], arguments: head + batch.map { RedisArgument($0.rawValue) })
                start += Self.heartbeatBatch
            } while start < connections.count
        }
    }

    public func disconnect(_ connection: ConnectionID, user: UserID) async throws -> PresenceTransition? {
        try await mappingRedisErrors {
            let reply = try await client.run(Self.disconnectScript, keys: [base], arguments: [RedisArgument(connection.rawValue)])
            guard let lastSeen = reply.int, lastSeen >= 0 else { return nil }
            return .offline(user, lastSeen: Timestamp(milliseconds: lastSeen))
        }
    }

    public func status(of users: [UserID]) async throws -> [UserPresence] {
        guard !users.isEmpty else { return [] }
        return try await mappingRedisErrors {
            let reply = try await client.run(Self.statusScript, keys: [base], arguments: users.map { RedisArgument($0.rawValue) })
            guard let values = reply.array, values.count == users.count * 2 else {
                throw RedisError.protocolViolation("presence status: unexpected reply \(reply)")
            }
            return users.enumerated().map { index, user in
                let seen = values[index * 2 + 1].int ?? -1
                return UserPresence(
                    user: user, online: values[index * 2] == .integer(1), lastSeen: seen >= 0 ? Timestamp(milliseconds: seen) : nil)
            }
        }
    }

    public func expire() async throws -> [PresenceTransition] {
        try await mappingRedisErrors {
            let reply = try await client.run(Self.expireScript, keys: [base])
            let values = reply.array ?? []
            return stride(from: 0, to: values.count - 1, by: 2).compactMap { index in
                guard let raw = values[index].string, let seen = values[index + 1].int else { return nil }
                return .offline(UserID(trusted: raw), lastSeen: Timestamp(milliseconds: seen))
            }
        }
    }
}

extension Duration {
    /// Whole milliseconds, at least 1 (Redis refuses a zero expiry).
    var milliseconds: Int64 { max(wholeMilliseconds, 1) }
}

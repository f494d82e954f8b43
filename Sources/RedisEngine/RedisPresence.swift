import ChatCore
import RedisClient

/// The ``Presence`` on Redis. Every change is one Lua script, atomic on the server and timed by the
/// server's clock (`TIME`), so nodes with skewed clocks agree on expiry. A user's keys all live in one
/// partition, under one hash tag (`PREFIX:{presence}` with one partition, the default on one server;
/// `PREFIX:{presence:K}` with several, K from a stable hash of the user, so a Redis Cluster spreads
/// presence over its shards while each script's keys stay in one slot):
///
/// - `…:conn` hash: connection → user and node;
/// - `…:user:USER` set: the user's connections;
/// - `…:entries:NODE` sorted set: the node's connections, scored by expiry;
/// - `…:nodes` sorted set: each node's liveness record, scored by expiry (refreshed by its heartbeat);
/// - `…:seen` hash: user → last seen.
///
/// Guarantees, beyond the port's contract: any live node's sweep (``expire()``) clears a dead node's
/// entries once its liveness record lapses, and reports each user it leaves with no entry exactly once
/// (the script is atomic and a user's entries are all in its partition, so two nodes sweeping at once
/// cannot both report a user); ``status(of:)`` counts only unexpired entries, swept or not. A heartbeat
/// or a sweep is one script per partition, pipelined. The partition count must be the same on every
/// node of a deployment (changing it forgets who is online and when users were last seen).
public struct RedisPresence: Presence {
    static let connectScript = RedisScript(String(decoding: PackageResources.presence_connect_lua, as: UTF8.self))
    static let disconnectScript = RedisScript(String(decoding: PackageResources.presence_disconnect_lua, as: UTF8.self))
    static let heartbeatScript = RedisScript(String(decoding: PackageResources.presence_heartbeat_lua, as: UTF8.self))
    static let expireScript = RedisScript(String(decoding: PackageResources.presence_expire_lua, as: UTF8.self))
    static let statusScript = RedisScript(String(decoding: PackageResources.presence_status_lua, as: UTF8.self))
    /// Connections per heartbeat script call: bounds how long one call holds the server.
    static let heartbeatBatch = 1000
    private let client: any RedisCommands
    private let partitions: HashTagPartitions
    /// Each partition's base key, as an argument.
    private let bases: [RedisArgument]

    /// `spread`: split over ``HashTagPartitions/onCluster`` partitions (a Redis Cluster), else one.
    public init(client: any RedisCommands, prefix: String, spread: Bool = false) {
        self.client = client
        self.partitions = HashTagPartitions(prefix: prefix, name: "presence", count: spread ? HashTagPartitions.onCluster : 1)
        self.bases = partitions.bases.map { RedisArgument($0) }
    }

    /// The partition `user`'s keys live in.
    private func partition(of user: UserID) -> Int { partitions.index(of: user.rawValue) }

    public func connect(_ connection: ConnectionID, user: UserID, node: NodeID, ttl: Duration) async throws -> PresenceTransition? {
        try await mappingRedisErrors {
            let reply = try await client.run(
                Self.connectScript, keys: [bases[partition(of: user)]],
                arguments: [RedisArgument(connection.rawValue), RedisArgument(user.rawValue), RedisArgument(node.rawValue), RedisArgument(ttl.milliseconds)])
            return reply == .integer(1) ? .online(user) : nil
        }
    }

    public func heartbeat(_ connections: [(connection: ConnectionID, user: UserID)], node: NodeID, ttl: Duration) async throws {
        let head = [RedisArgument(node.rawValue), RedisArgument(ttl.milliseconds)]
        var byPartition = [[RedisArgument]](repeating: [], count: bases.count)
        for (connection, user) in connections { byPartition[partition(of: user)].append(RedisArgument(connection.rawValue)) }
        var calls: [(keys: [RedisArgument], arguments: [RedisArgument])] = []
        for (index, members) in byPartition.enumerated() {
            // A partition where the node has no connection needs no call (its liveness record there only
            // guards its entries there); with one partition the node's record is refreshed even so.
            if members.isEmpty, bases.count > 1 { continue }
            var start = 0
            repeat {
                calls.append(([bases[index]], head + members[start..<min(start + Self.heartbeatBatch, members.count)]))
                start += Self.heartbeatBatch
            } while start < members.count
        }
        try await mappingRedisErrors { _ = try await client.run(Self.heartbeatScript, calls: calls) }
    }

    public func disconnect(_ connection: ConnectionID, user: UserID) async throws -> PresenceTransition? {
        try await mappingRedisErrors {
            let reply = try await client.run(Self.disconnectScript, keys: [bases[partition(of: user)]], arguments: [RedisArgument(connection.rawValue)])
            guard let lastSeen = reply.int, lastSeen >= 0 else { return nil }
            return .offline(user, lastSeen: Timestamp(milliseconds: lastSeen))
        }
    }

    public func status(of users: [UserID]) async throws -> [UserPresence] {
        guard !users.isEmpty else { return [] }
        var positions = [[Int]](repeating: [], count: bases.count)
        for (position, user) in users.enumerated() { positions[partition(of: user)].append(position) }
        let asked = positions.indices.filter { !positions[$0].isEmpty }
        return try await mappingRedisErrors {
            let replies = try await client.run(
                Self.statusScript, calls: asked.map { ([bases[$0]], positions[$0].map { RedisArgument(users[$0].rawValue) }) })
            var found = [UserPresence?](repeating: nil, count: users.count)
            for (partition, reply) in zip(asked, replies) {
                guard let values = reply.array, values.count == positions[partition].count * 2 else {
                    throw RedisError.protocolViolation("presence status: unexpected reply \(reply)")
                }
                for (index, position) in positions[partition].enumerated() {
                    let seen = values[index * 2 + 1].int ?? -1
                    found[position] = UserPresence(
                        user: users[position], online: values[index * 2] == .integer(1), lastSeen: seen >= 0 ? Timestamp(milliseconds: seen) : nil)
                }
            }
            return found.map { $0! }
        }
    }

    public func expire() async throws -> [PresenceTransition] {
        try await mappingRedisErrors {
            var transitions: [PresenceTransition] = []
            for reply in try await client.run(Self.expireScript, calls: bases.map { ([$0], []) }) {
                let values = reply.array ?? []
                for index in stride(from: 0, to: values.count - 1, by: 2) {
                    guard let raw = values[index].string, let seen = values[index + 1].int else { continue }
                    transitions.append(.offline(UserID(trusted: raw), lastSeen: Timestamp(milliseconds: seen)))
                }
            }
            return transitions
        }
    }
}

extension Duration {
    /// Whole milliseconds, at least 1 (Redis refuses a zero expiry).
    var milliseconds: Int64 { max(wholeMilliseconds, 1) }
}

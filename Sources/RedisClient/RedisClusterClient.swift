import NIOCore
import NIOPosix
import Synchronization

/// Commands to a Redis Cluster: each goes to the primary that serves its key's slot (``ClusterSlot``),
/// through a ``RedisClient`` per primary; the slot map is read with `CLUSTER SLOTS` from the seeds or
/// any node known, at the first call and again after a redirection or a lost node.
///
/// Guarantees: a pipeline is split per primary, each part sent pipelined on that primary's pool, and
/// the replies come back in the order of the commands (commands for different shards run in no
/// particular order between them, as on any cluster client). A `MOVED` reply is followed: the
/// command is sent again to the node it names (at most ``maxRedirects`` times) and the slot map is
/// read again; an `ASK` reply is followed once to the named node, after `ASKING`, without changing the
/// map. A command with no key (`PING`, `PUBLISH`) goes to the first primary. Nothing else is retried
/// behind the caller's back: a command whose node could not be reached fails as it does on one server
/// (`unavailable`, `connectionClosed`, `timeout`), and the next call reads the slot map again, so
/// after a failover the promoted replica is found. A command whose slot the map gives no primary fails
/// with `unavailable` and makes the next call read the map again too.
public final class RedisClusterClient: RedisCommands {
    /// Redirections one command may follow before it fails.
    public static let maxRedirects = 5

    private struct State {
        var topology: ClusterTopology?
        /// Set when the map may be stale (a redirection, a lost node, a slot it gives no primary): the next
        /// call reads it again.
        var stale = true
        var clients: [ClusterNodeAddress: RedisClient] = [:]
        var closed = false
    }

    /// What every node's connections use (credentials, TLS, timeouts, pool size); host and port come
    /// from the slot map.
    public let configuration: RedisConfiguration
    public let seeds: [ClusterNodeAddress]
    private let group: any EventLoopGroup
    private let state = Mutex(State())
    /// The reading of the map in flight, shared by the callers that find it stale meanwhile.
    private let reading = SingleFlight<ClusterTopology>()

    public init(seeds: [ClusterNodeAddress], configuration: RedisConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.seeds = seeds
        self.configuration = configuration
        self.group = group
    }

    /// The slot map in use, read first when there is none or it may be stale (once for all the callers
    /// that find it so together).
    public func topology() async throws(RedisError) -> ClusterTopology {
        let current = try state.withLock { state throws(RedisError) -> ClusterTopology? in
            guard !state.closed else { throw .closed }
            return state.stale ? nil : state.topology
        }
        if let current { return current }
        return try await reading.run { [self] () async throws(RedisError) in try await refresh() }
    }

    /// Marks the slot map stale: the next call reads it again (a sharded subscriber that was told a
    /// slot moved says so here).
    public func invalidate() {
        state.withLock { $0.stale = true }
    }

    /// Reads the slot map again from the first node that answers (the known primaries, then the seeds).
    @discardableResult
    public func refresh() async throws(RedisError) -> ClusterTopology {
        let known = state.withLock { $0.topology?.primaries ?? [] }
        var candidates = known
        for seed in seeds where !candidates.contains(seed) { candidates.append(seed) }
        var last: RedisError = .unavailable("no cluster node to ask for the slot map")
        for node in candidates {
            do {
                let reply = try await client(for: node).execute(["CLUSTER", "SLOTS"])
                let topology = try ClusterTopology(slotsReply: reply, from: node)
                guard !topology.primaries.isEmpty else {
                    last = .unavailable("\(node) serves no slots")
                    continue
                }
                state.withLock { state in
                    state.topology = topology
                    state.stale = false
                }
                return topology
            } catch {
                last = error
            }
        }
        throw last
    }

    /// Sends `commands` (split per primary, see the type); error replies come back as values. An `MGET`
    /// whose keys live in several slots is sent as one `MGET` per slot and answered as one.
    public func send(_ commands: [RedisCommand]) async throws(RedisError) -> [RESPValue] {
        guard !commands.isEmpty else { return [] }
        let (sent, pieces) = Self.splitAcrossSlots(commands)
        let replies = try await sendRouted(sent)
        guard sent.count != commands.count else { return replies }
        return Self.join(replies, pieces, count: commands.count)
    }

    /// Where a sent command's reply goes: the whole reply of command `index`, or the values of an
    /// `MGET` part, to `positions` of command `index`'s `of` keys.
    enum Piece: Equatable {
        case whole(Int)
        case keys(Int, positions: [Int], of: Int)
    }

    /// `commands` with each `MGET` over several slots split into one per slot (keys in their order).
    static func splitAcrossSlots(_ commands: [RedisCommand]) -> (sent: [RedisCommand], pieces: [Piece]) {
        var sent: [RedisCommand] = [], pieces: [Piece] = []
        for (index, command) in commands.enumerated() {
            let keys = command.dropFirst()
            guard keys.count > 1, String(decoding: command[0].bytes, as: UTF8.self).uppercased() == "MGET" else {
                sent.append(command)
                pieces.append(.whole(index))
                continue
            }
            var slots: [Int] = [], positions: [Int: [Int]] = [:]
            for (position, key) in keys.enumerated() {
                let slot = ClusterSlot(key: key.bytes).value
                if positions[slot] == nil { slots.append(slot) }
                positions[slot, default: []].append(position)
            }
            guard slots.count > 1 else {
                sent.append(command)
                pieces.append(.whole(index))
                continue
            }
            for slot in slots {
                sent.append(["MGET"] + positions[slot]!.map { keys[keys.startIndex + $0] })
                pieces.append(.keys(index, positions: positions[slot]!, of: keys.count))
            }
        }
        return (sent, pieces)
    }

    /// The replies to the commands `splitAcrossSlots` split, from the replies to what it sent: a split
    /// `MGET`'s values back in key order, or the first error one of its parts got.
    static func join(_ replies: [RESPValue], _ pieces: [Piece], count: Int) -> [RESPValue] {
        var joined = [RESPValue](repeating: .null, count: count)
        var values: [Int: [RESPValue]] = [:]
        var failed: Set<Int> = []
        for (reply, piece) in zip(replies, pieces) {
            switch piece {
            case .whole(let index):
                joined[index] = reply
            case .keys(let index, let positions, let count):
                guard !failed.contains(index) else { continue }
                guard let parts = reply.array, parts.count == positions.count else {
                    failed.insert(index)
                    if case .error = reply { joined[index] = reply } else { joined[index] = .error("ERR an MGET part answered \(reply)") }
                    continue
                }
                var all = values[index] ?? [RESPValue](repeating: .null, count: count)
                for (position, value) in zip(positions, parts) { all[position] = value }
                values[index] = all
            }
        }
        for (index, all) in values where !failed.contains(index) { joined[index] = .array(all) }
        return joined
    }

    private func sendRouted(_ commands: [RedisCommand]) async throws(RedisError) -> [RESPValue] {
        let topology = try await topology()
        var parts: [ClusterNodeAddress: [Int]] = [:]
        var order: [ClusterNodeAddress] = []
        for (index, command) in commands.enumerated() {
            let node: ClusterNodeAddress
            do {
                node = try Self.node(for: command, in: topology)
            } catch {
                // A map with a slot no primary serves was read mid-change (or from a node that had not
                // heard of every primary): the next call reads it again, as the sharded subscriber does.
                state.withLock { $0.stale = true }
                throw error
            }
            if parts[node] == nil { order.append(node) }
            parts[node, default: []].append(index)
        }
        var replies = [RESPValue](repeating: .null, count: commands.count)
        if order.count == 1 {
            replies = try await sendTo(order[0], commands)
        } else {
            let answered: [([Int], Result<[RESPValue], RedisError>)] = await withTaskGroup(of: ([Int], Result<[RESPValue], RedisError>).self) { group in
                for node in order {
                    let indices = parts[node]!
                    group.addTask { [self] in
                        do throws(RedisError) {
                            return (indices, .success(try await sendTo(node, indices.map { commands[$0] })))
                        } catch {
                            return (indices, .failure(error))
                        }
                    }
                }
                var all: [([Int], Result<[RESPValue], RedisError>)] = []
                for await part in group { all.append(part) }
                return all
            }
            for (indices, result) in answered {
                let values = try result.get()
                for (position, index) in indices.enumerated() { replies[index] = values[position] }
            }
        }
        for index in replies.indices {
            guard case .error(let message) = replies[index], let redirect = ClusterRedirect(error: message) else { continue }
            replies[index] = try await follow(redirect, commands[index])
        }
        return replies
    }

    /// Closes every node's connections; later calls fail with `closed`.
    public func close() {
        let clients = state.withLock { state in
            state.closed = true
            defer { state.clients = [:] }
            return Array(state.clients.values)
        }
        for client in clients { client.close() }
    }

    /// The node `command` goes to: its key's primary, or the first primary for a command with no key.
    static func node(for command: RedisCommand, in topology: ClusterTopology) throws(RedisError) -> ClusterNodeAddress {
        guard let key = routingKey(of: command) else {
            guard let first = topology.primaries.first else { throw .unavailable("the cluster serves no slots") }
            return first
        }
        let slot = ClusterSlot(key: key)
        guard let primary = topology.primary(of: slot) else { throw .unavailable("no primary serves \(slot)") }
        return primary
    }

    /// The argument a cluster routes `command` by: the first key (for `EVAL`/`EVALSHA`/`FCALL`, the
    /// first after the key count; none when it is 0), the channel of `SPUBLISH`/`SSUBSCRIBE`, nothing
    /// for commands that name no key (any node can run them).
    public static func routingKey(of command: RedisCommand) -> [UInt8]? {
        guard let name = command.first.map({ String(decoding: $0.bytes, as: UTF8.self).uppercased() }) else { return nil }
        switch name {
        case "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO":
            guard command.count > 3, let keys = Int(String(decoding: command[2].bytes, as: UTF8.self)), keys > 0 else { return nil }
            return command[3].bytes
        case "PING", "PUBLISH", "INFO", "CLUSTER", "SCRIPT", "TIME", "ECHO", "DBSIZE", "FLUSHALL", "FLUSHDB", "ASKING", "READONLY",
            "CLIENT", "CONFIG", "COMMAND", "HELLO", "AUTH", "SELECT", "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE":
            return nil
        default:
            return command.count > 1 ? command[1].bytes : nil
        }
    }

    /// Follows a redirection of `command` (see the type).
    private func follow(_ first: ClusterRedirect, _ command: RedisCommand) async throws(RedisError) -> RESPValue {
        var redirect = first
        for _ in 0..<Self.maxRedirects {
            let reply: RESPValue
            switch redirect {
            case .moved(_, let node):
                state.withLock { $0.stale = true }
                reply = try await sendTo(node, [command])[0]
            case .ask(_, let node):
                reply = try await sendTo(node, [["ASKING"], command])[1]
            }
            guard case .error(let message) = reply, let next = ClusterRedirect(error: message) else { return reply }
            redirect = next
        }
        throw .unavailable("\(command.first.map { String(decoding: $0.bytes, as: UTF8.self) } ?? "a command") was redirected more than \(Self.maxRedirects) times")
    }

    /// Sends to one node; a node that cannot be reached makes the slot map stale.
    private func sendTo(_ node: ClusterNodeAddress, _ commands: [RedisCommand]) async throws(RedisError) -> [RESPValue] {
        do {
            return try await client(for: node).send(commands)
        } catch {
            state.withLock { $0.stale = true }
            throw error
        }
    }

    private func client(for node: ClusterNodeAddress) throws(RedisError) -> RedisClient {
        try state.withLock { state throws(RedisError) -> RedisClient in
            guard !state.closed else { throw .closed }
            if let client = state.clients[node] { return client }
            var configuration = configuration
            configuration.host = node.host
            configuration.port = node.port
            let client = RedisClient(configuration: configuration, group: group)
            state.clients[node] = client
            return client
        }
    }
}

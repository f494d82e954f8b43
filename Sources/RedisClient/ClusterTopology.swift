/// A Redis server's address as the cluster names it.
public struct ClusterNodeAddress: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port` (the last colon separates the port, so an IPv6 host may hold colons); nil when malformed.
    public init?(_ text: some StringProtocol) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            return nil
        }
        let host = text[..<colon]
        guard !host.isEmpty else { return nil }
        self.init(host: String(host), port: port)
    }

    public var description: String { "\(host):\(port)" }
}

/// Which primary serves each slot, read from a `CLUSTER SLOTS` reply.
///
/// Guarantees: every slot the reply assigns maps to that range's primary (its first node); a slot no
/// range covers maps to none (the cluster is incomplete: a command for it fails with `unavailable`
/// until the next reading). A node whose host is empty in the reply (the server does not know its own
/// address) is taken to be at the host the reply came from.
public struct ClusterTopology: Sendable, Equatable {
    /// One range of slots with the primary that serves it and its replicas.
    public struct Range: Sendable, Equatable {
        public var slots: ClosedRange<Int>
        public var primary: ClusterNodeAddress
        public var replicas: [ClusterNodeAddress]

        public init(slots: ClosedRange<Int>, primary: ClusterNodeAddress, replicas: [ClusterNodeAddress]) {
            self.slots = slots
            self.primary = primary
            self.replicas = replicas
        }
    }

    public let ranges: [Range]
    /// For each slot, the index into `primaries` of its primary, or -1.
    private let owner: [Int16]
    /// The distinct primaries, in order of their first slot.
    public let primaries: [ClusterNodeAddress]

    public init(ranges: [Range]) {
        self.ranges = ranges.sorted { $0.slots.lowerBound < $1.slots.lowerBound }
        var primaries: [ClusterNodeAddress] = []
        var index: [ClusterNodeAddress: Int16] = [:]
        var owner = [Int16](repeating: -1, count: ClusterSlot.count)
        for range in self.ranges {
            let position: Int16
            if let known = index[range.primary] {
                position = known
            } else {
                position = Int16(primaries.count)
                index[range.primary] = position
                primaries.append(range.primary)
            }
            for slot in range.slots.clamped(to: 0...(ClusterSlot.count - 1)) { owner[slot] = position }
        }
        self.owner = owner
        self.primaries = primaries
    }

    /// Reads a `CLUSTER SLOTS` reply that `source` gave.
    public init(slotsReply reply: RESPValue, from source: ClusterNodeAddress) throws(RedisError) {
        guard let entries = reply.array else { throw .protocolViolation("CLUSTER SLOTS answered \(reply)") }
        var ranges: [Range] = []
        for entry in entries {
            guard let fields = entry.array, fields.count >= 3, let start = fields[0].int, let end = fields[1].int,
                0 <= start, start <= end, end < ClusterSlot.count
            else { throw .protocolViolation("a CLUSTER SLOTS entry is not [start, end, node…]: \(entry)") }
            var nodes: [ClusterNodeAddress] = []
            for node in fields[2...] {
                guard let parts = node.array, parts.count >= 2, let host = parts[0].string, let port = parts[1].int else {
                    throw .protocolViolation("a CLUSTER SLOTS node is not [host, port, …]: \(node)")
                }
                // "" (or "?" on some versions) means the server does not know its own address: the one we asked.
                nodes.append(ClusterNodeAddress(host: host.isEmpty || host == "?" ? source.host : host, port: Int(port)))
            }
            ranges.append(Range(slots: Int(start)...Int(end), primary: nodes[0], replicas: Array(nodes.dropFirst())))
        }
        self.init(ranges: ranges)
    }

    /// The primary serving `slot`, nil when no range covers it.
    public func primary(of slot: ClusterSlot) -> ClusterNodeAddress? {
        let position = owner[slot.value]
        return position < 0 ? nil : primaries[Int(position)]
    }

    /// Whether every slot is served.
    public var isComplete: Bool { !owner.contains(-1) }
}

/// A redirection a cluster node answers instead of running a command (the specification's `MOVED` and
/// `ASK` errors).
public enum ClusterRedirect: Sendable, Equatable {
    /// The slot lives at `node` now: ask it, and read the topology again.
    case moved(ClusterSlot, ClusterNodeAddress)
    /// The slot is migrating and this key may already be at `node`: ask it once, after `ASKING`.
    case ask(ClusterSlot, ClusterNodeAddress)

    /// The redirection an error reply's message names, nil for any other error.
    public init?(error message: String) {
        let parts = message.split(separator: " ")
        guard parts.count == 3, let number = Int(parts[1]), let slot = ClusterSlot(number), let node = ClusterNodeAddress(parts[2]) else {
            return nil
        }
        switch parts[0] {
        case "MOVED": self = .moved(slot, node)
        case "ASK": self = .ask(slot, node)
        default: return nil
        }
    }

    public var node: ClusterNodeAddress {
        switch self {
        case .moved(_, let node), .ask(_, let node): node
        }
    }
}

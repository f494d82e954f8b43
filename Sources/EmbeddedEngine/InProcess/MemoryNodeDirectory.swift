import ChatCore

/// The embedded ``NodeDirectory``: entries with expiry times in memory, on an injected clock. One
/// node's process holds it, so on the embedded engine it lists that node alone.
///
/// Guarantees: the ``NodeDirectory`` contract; memory is bounded by the nodes announced within a TTL.
public actor MemoryNodeDirectory: NodeDirectory {
    private let clock: any WallClock
    private var entries: [NodeID: (report: [UInt8], expiresAt: Timestamp)] = [:]

    public init(clock: any WallClock) {
        self.clock = clock
    }

    public func announce(_ entry: NodeEntry, ttl: Duration) {
        let now = clock.now()
        entries = entries.filter { $0.value.expiresAt > now }
        entries[entry.node] = (entry.report, now.advanced(by: ttl))
    }

    public func withdraw(_ node: NodeID) {
        entries[node] = nil
    }

    public func nodes() -> [NodeEntry] {
        let now = clock.now()
        return entries.filter { $0.value.expiresAt > now }
            .map { NodeEntry(node: $0.key, report: $0.value.report) }
            .sorted { $0.node.rawValue < $1.node.rawValue }
    }
}

/// One node's entry in the ``NodeDirectory``: its id and the report it last announced, opaque here
/// (the node encodes what an operator sees of it: health, connections, counters).
public struct NodeEntry: Sendable, Hashable {
    public var node: NodeID
    public var report: [UInt8]

    public init(node: NodeID, report: [UInt8]) {
        self.node = node
        self.report = report
    }
}

/// The nodes of a cluster as they announce themselves, for the admin API: every node reads every
/// other's last report from it, so any node can answer for the whole cluster.
///
/// Contract: `announce` puts the node's report in place of its previous one, to live `ttl` unless
/// announced again; `nodes` lists the entries whose TTL has not passed, ordered by node id, each
/// node once; `withdraw` removes the node's entry at once (a node that stops cleanly), and is a
/// no-op for a node with none. A node that dies without withdrawing drops out after its TTL.
public protocol NodeDirectory: Sendable {
    func announce(_ entry: NodeEntry, ttl: Duration) async throws
    func withdraw(_ node: NodeID) async throws
    func nodes() async throws -> [NodeEntry]
}

import ChatCore

/// Two views of one fresh node directory (as two nodes see it) and a way to move its time forward by
/// at least a duration.
public struct NodeDirectoryHarness: ConformanceHarness {
    public let directories: [any NodeDirectory]
    public let advance: @Sendable (Duration) async throws -> Void
    public let teardown: @Sendable () async -> Void
    public init(
        directories: [any NodeDirectory], advance: @escaping @Sendable (Duration) async throws -> Void,
        teardown: @escaping @Sendable () async -> Void
    ) {
        self.directories = directories
        self.advance = advance
        self.teardown = teardown
    }
}

public typealias NodeDirectoryFactory = @Sendable () async throws -> NodeDirectoryHarness

/// The ``NodeDirectory`` contract as checks.
public enum NodeDirectoryConformance {
    public static let checks: [ConformanceCheck<NodeDirectoryFactory>] = [
        .init("every node reads every announced node, each once, by id", announceAndList),
        .init("an entry lapses after its TTL unless announced again; a withdrawn one is gone at once", lapseAndWithdraw),
    ]

    static func with(_ factory: NodeDirectoryFactory, _ body: (NodeDirectoryHarness) async throws -> Void) async throws {
        try await using(try await factory()) { try await body($0) }
    }

    static func announceAndList(_ factory: NodeDirectoryFactory) async throws {
        try await with(factory) { harness in
            let (a, b) = (harness.directories[0], harness.directories[harness.directories.count - 1])
            try checkEqual(try await a.nodes(), [], "empty at first")
            let first = NodeEntry(node: NodeID("node-b"), report: Array(#"{"n":1}"#.utf8) + [0, 255])
            let second = NodeEntry(node: NodeID("node-a"), report: [2])
            try await a.announce(first, ttl: .seconds(60))
            try await b.announce(second, ttl: .seconds(60))
            try checkEqual(try await a.nodes(), [second, first], "both, ordered by id, bytes intact")
            let replaced = NodeEntry(node: NodeID("node-b"), report: [3])
            try await a.announce(replaced, ttl: .seconds(60))
            try checkEqual(try await b.nodes(), [second, replaced], "a new report replaces the node's last one")
        }
    }

    static func lapseAndWithdraw(_ factory: NodeDirectoryFactory) async throws {
        try await with(factory) { harness in
            let (a, b) = (harness.directories[0], harness.directories[harness.directories.count - 1])
            let short = NodeEntry(node: NodeID("node-short"), report: [1])
            let kept = NodeEntry(node: NodeID("node-kept"), report: [2])
            let leaving = NodeEntry(node: NodeID("node-leaving"), report: [3])
            // Long TTLs first: nothing here may depend on how fast a real server's time passes.
            try await a.announce(short, ttl: .seconds(60))
            try await b.announce(kept, ttl: .seconds(60))
            try await b.announce(leaving, ttl: .seconds(60))
            try await b.withdraw(leaving.node)
            try checkEqual(try await a.nodes(), [kept, short], "a withdrawn node is gone at once")
            try await b.withdraw(NodeID("node-unknown"))
            // Announced again with a short TTL, which then passes.
            try await a.announce(short, ttl: .milliseconds(300))
            try await harness.advance(.milliseconds(400))
            try checkEqual(try await b.nodes(), [kept], "past its TTL the entry lapsed")
            try await a.announce(short, ttl: .seconds(60))
            try checkEqual(try await b.nodes(), [kept, short], "announced again, it is back")
        }
    }
}

import ChatCore
import RedisClient

/// The ``NodeDirectory`` on Redis: each node's report is a string key with a TTL
/// (`PREFIX:{nodes}:NODE`, `SET … PX`, so expiry is the server's), and a set (`PREFIX:{nodes}`)
/// names the nodes that announced. A read takes the set and the reports in one round trip each and
/// drops from the set the nodes whose report lapsed. All keys share one hash tag (one cluster slot).
public struct RedisNodeDirectory: NodeDirectory {
    private let client: any RedisCommands
    private let set: String

    public init(client: any RedisCommands, prefix: String) {
        self.client = client
        self.set = "\(prefix):{nodes}"
    }

    private func key(_ node: String) -> RedisArgument { RedisArgument("\(set):\(node)") }

    public func announce(_ entry: NodeEntry, ttl: Duration) async throws {
        try await mappingRedisErrors {
            let replies = try await client.send([
                ["SET", key(entry.node.rawValue), RedisArgument(entry.report), "PX", RedisArgument(max(1, ttl.milliseconds))],
                ["SADD", RedisArgument(set), RedisArgument(entry.node.rawValue)],
            ])
            for reply in replies { _ = try reply.checked() }
        }
    }

    public func withdraw(_ node: NodeID) async throws {
        try await mappingRedisErrors {
            let replies = try await client.send([["DEL", key(node.rawValue)], ["SREM", RedisArgument(set), RedisArgument(node.rawValue)]])
            for reply in replies { _ = try reply.checked() }
        }
    }

    public func nodes() async throws -> [NodeEntry] {
        try await mappingRedisErrors {
            guard let members = try await client.execute(["SMEMBERS", RedisArgument(set)]).checked().array else {
                throw RedisError.protocolViolation("SMEMBERS gave no array")
            }
            let ids = members.compactMap(\.string)
            guard !ids.isEmpty else { return [] }
            guard let reports = try await client.execute(["MGET"] + ids.map(key)).checked().array, reports.count == ids.count else {
                throw RedisError.protocolViolation("MGET gave the wrong number of values")
            }
            var entries: [NodeEntry] = []
            var lapsed: [String] = []
            for (id, report) in zip(ids, reports) {
                if let bytes = report.bytes { entries.append(NodeEntry(node: NodeID(id), report: bytes)) } else { lapsed.append(id) }
            }
            if !lapsed.isEmpty {
                // A node that announces again between the MGET and this SREM is added back by its next announce.
                _ = try await client.execute(["SREM", RedisArgument(set)] + lapsed.map { RedisArgument($0) })
            }
            return entries.sorted { $0.node.rawValue < $1.node.rawValue }
        }
    }
}

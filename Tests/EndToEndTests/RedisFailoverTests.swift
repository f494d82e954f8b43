import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import RedisClient
import Synchronization
import Testing
import TestServers

/// Three node processes over a Redis Cluster, and over a primary behind Sentinel: users on different
/// nodes chat in conversations whose channels live on every shard while the busiest Redis primary is
/// SIGKILLed; every acknowledged message reaches every participant once, and the recovery time (from
/// the kill until a message sent after it in every conversation has reached everyone) is printed.
/// `make test` runs this suite in the Redis Cluster and Sentinel stage.
@Suite(.serialized) struct RedisClusterAndSentinelFailoverTests {
    @Test(arguments: [ClusterRedis.Mode.cluster, .sentinel])
    func everyAcknowledgedMessageArrivesThroughAPrimaryKilledMidTraffic(_ mode: ClusterRedis.Mode) async throws {
        try await Cluster.with(redis: mode) { cluster in
            let users = ["ann", "ben", "cal"]
            let clients = try await users.enumerated().asyncMap { index, user in try await TestNode.client(cluster.url(index), user) }
            try await clients[0].withConnection { ann in
                try await clients[1].withConnection { ben in
                    try await clients[2].withConnection { cal in
                        try await Self.drill(cluster, mode, users: users, sockets: [ann, ben, cal])
                    }
                }
            }
        }
    }

    static func drill(_ cluster: Cluster, _ mode: ClusterRedis.Mode, users: [String], sockets: [ChatConnection]) async throws {
        // At least six groups, and on a Redis Cluster as many as it takes for their channels to live on
        // every shard.
        var created: [String] = []
        let shards = try await Self.shards(of: cluster.redis)
        while created.count < 6 || Set(created.compactMap(shards.of)).count < shards.count {
            try #require(created.count < 40, "groups on every shard")
            created.append(try await sockets[0].createGroup(title: "g\(created.count)", participants: ["ben", "cal"]).conversation.id)
        }
        let groups = created
        for socket in sockets.dropFirst() {
            try await eventually("the members on other nodes joined every group") {
                socket.events.filter { $0.type == EventType.conversationJoined.rawValue }.count >= groups.count
            }
        }
        let acked = Acknowledged()
        /// Sends until acknowledged: refused while Redis fails over (unavailable), never lost once acked.
        @Sendable func send(_ socket: ChatConnection, _ text: String, to group: String) async throws -> Int64 {
            while true {
                do {
                    let seq = try await socket.send(text, to: group, clientID: text).message.seq
                    acked.seqs.withLock { _ = $0[group, default: []].insert(seq) }
                    return seq
                } catch let error as ChatError where error.code == .unavailable || error.code == .rateLimited {
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
        }
        let rounds = 30
        let recovery: Duration = try await withThrowingTaskGroup(of: Duration?.self) { tasks in
            for (index, socket) in sockets.enumerated() {
                tasks.addTask {
                    for round in 1...rounds {
                        for group in groups { _ = try await send(socket, "\(users[index])-\(round)-\(group)", to: group) }
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    return nil
                }
            }
            let redis = cluster.redis
            tasks.addTask {
                try await eventually("messages flow") { seqs(sockets[2], in: groups[0]).count >= 12 }
                let killed = ContinuousClock.now
                switch redis {
                case .cluster(let redis): try await redis.killBusiestPrimary()
                case .sentinel(let sentinel): try sentinel.kill(node: 1)
                case .server: Issue.record("this drill needs a Redis Cluster or Sentinel")
                }
                // Recovered: a message sent after the kill in every group (their channels on every shard,
                // the killed one's included) has reached every participant.
                try await withThrowingTaskGroup(of: Void.self) { probes in
                    for group in groups {
                        probes.addTask {
                            let probe = try await send(sockets[0], "probe-after-the-kill-\(group)", to: group)
                            for socket in sockets {
                                try await eventually(timeout: .seconds(60), "the probe reaches \(socket.user ?? "?")") { seqs(socket, in: group).contains(probe) }
                            }
                        }
                    }
                    try await probes.waitForAll()
                }
                return ContinuousClock.now - killed
            }
            var recovery: Duration = .zero
            for try await result in tasks { if let result { recovery = result } }
            return recovery
        }
        var wireDuplicates = 0
        for group in groups {
            let stored = acked.seqs.withLock { $0[group] ?? [] }.sorted()
            #expect(stored == Array(1...Int64(stored.count)), "\(group): acknowledged seqs are gap-free")
            for (index, socket) in sockets.enumerated() {
                try await eventually(timeout: .seconds(30), "\(users[index]) has every acknowledged message of \(group)") { seqs(socket, in: group) == stored }
                let received = socket.receivedEntries.filter { $0.conversation == group }.count
                wireDuplicates += received - Set(socket.receivedEntries.filter { $0.conversation == group }.map(\.seq)).count
            }
        }
        // The relays deliver each seq once, the repair after the failover included (architecture.md).
        #expect(wireDuplicates == 0, "no message sent twice to a socket")
        print("redis \(mode.rawValue) primary killed mid-traffic: recovery \(recovery.formatted(.units(allowed: [.milliseconds]))), "
            + "\(acked.seqs.withLock { $0.values.map(\.count).reduce(0, +) }) messages acknowledged, each delivered to all 3 users, \(wireDuplicates) duplicate frames (dropped by seq)")
    }
}

extension RedisClusterAndSentinelFailoverTests {
    /// How many shards `redis` has, and the one (a primary's address) a conversation's channel lives on
    /// (everything on one through Sentinel).
    static func shards(of redis: ClusterRedis) async throws -> (count: Int, of: @Sendable (String) -> String?) {
        guard case .cluster(let nodes) = redis else { return (1, { _ in "primary" }) }
        let client = RedisClusterClient(seeds: nodes.nodes.compactMap { ClusterNodeAddress($0) }, configuration: RedisConfiguration())
        defer { client.close() }
        let map = try await client.topology()
        return (map.primaries.count, { id in
            ConversationID(id).flatMap { map.primary(of: ClusterSlot(key: Channel.conversation($0).name(prefix: "sb")))?.description }
        })
    }
}

/// The seqs each group's sends were acknowledged with.
final class Acknowledged: Sendable {
    let seqs = Mutex<[String: Set<Int64>]>([:])
}

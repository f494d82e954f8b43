import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing
import TestServers

#if canImport(Glibc)
import Glibc
#endif

/// The Redis a test cluster's nodes share: one server (a test may restart it), a Redis Cluster, or a
/// primary behind Sentinel; each of the test's own.
enum ClusterRedis: Sendable {
    case server(OwnRedis)
    case cluster(OwnRedisCluster)
    case sentinel(OwnRedisSentinel)

    enum Mode: String, CaseIterable, Sendable { case server, cluster, sentinel }

    static func start(_ mode: Mode) async throws -> ClusterRedis {
        switch mode {
        case .server: .server(try await OwnRedis.start())
        case .cluster: .cluster(try await OwnRedisCluster.start())
        case .sentinel: .sentinel(try await OwnRedisSentinel.start())
        }
    }

    /// The nodes' flags that name it.
    var flags: [String] {
        switch self {
        case .server(let redis): ["--redis-url", redis.url]
        case .cluster(let cluster): ["--redis-url", "redis://" + cluster.nodes.joined(separator: ",")]
        case .sentinel(let sentinel):
            ["--redis-url", "redis://\(OwnRedisSentinel.master)", "--redis-sentinels", sentinel.sentinels.joined(separator: ",")]
        }
    }

    /// The one server (for the tests that stop and restart it).
    var server: OwnRedis {
        get throws {
            guard case .server(let redis) = self else { throw ChatError.internal("this cluster's Redis is not one server") }
            return redis
        }
    }

    func remove() async {
        switch self {
        case .server(let redis): await redis.remove()
        case .cluster(let cluster): await cluster.remove()
        case .sentinel(let sentinel): await sentinel.remove()
        }
    }
}

/// Three real node processes sharing one Redis and one PostgreSQL (cluster mode), clients spread over
/// them. Each test has its own Redis (it may restart or fail it over) and its own database.
struct Cluster {
    let redis: ClusterRedis
    let database: TestDatabase
    let directory: String
    var nodes: [NodeProcess]
    let presenceTTL: Duration
    /// More flags for every node.
    let extra: [String]

    static func start(nodes count: Int = 3, redis mode: ClusterRedis.Mode = .server, presenceTTL: Duration = .seconds(30), extra: [String] = [])
        async throws -> Cluster
    {
        let redis = try await ClusterRedis.start(mode)
        let database = try await TestPostgres.createDatabase()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-cluster-\(UUID().uuidString)").path
        var cluster = Cluster(redis: redis, database: database, directory: directory, nodes: [], presenceTTL: presenceTTL, extra: extra)
        do {
            for index in 0..<count { cluster.nodes.append(try await NodeProcess.start(cluster.arguments(node: index))) }
            for node in cluster.nodes { try await cluster.waitUntilReady(node.url) }
        } catch {
            await cluster.stop()
            throw error
        }
        return cluster
    }

    func arguments(node index: Int) -> [String] {
        [
            "--node-id", "node-\(index)", "--data-dir", directory + "/node-\(index)", "--auth-secret", TestNode.secret,
            "--database-url", database.url, "--redis-canary-ms", "300",
            "--presence-ttl-ms", "\(presenceTTL.wholeMilliseconds)", "--redis-timeout-ms", "1000",
            // Tests send fast on purpose; the rate limit has its own tests.
            "--limits-rate-messages", "100000", "--limits-rate-burst", "100000", "--drain-grace-ms", "200", "--drain-jitter-ms", "100",
        ] + redis.flags + extra
    }

    func url(_ index: Int) -> String { nodes[index].url }

    /// Waits for `/health/ready`: the node listens and its pub/sub link carries its canary.
    func waitUntilReady(_ url: String) async throws {
        let probe = ChatClient(baseURL: url, token: "")
        try await eventually(timeout: .seconds(30), "\(url) is ready") { (try? await probe.call("GET", "/health/ready"))?.0 == 200 }
    }

    func stop() async {
        for node in nodes { await node.stop() }
        await redis.remove()
        await database.drop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs `body` on a running cluster and stops it afterwards, whatever happens.
    static func with(
        redis: ClusterRedis.Mode = .server, presenceTTL: Duration = .seconds(30), extra: [String] = [], _ body: (Cluster) async throws -> Void
    ) async throws {
        let cluster = try await start(redis: redis, presenceTTL: presenceTTL, extra: extra)
        do {
            try await body(cluster)
        } catch {
            await cluster.stop()
            throw error
        }
        await cluster.stop()
    }
}

/// Every entry a connection received in `conversation`, deduplicated by seq (delivery is at-least-once).
func seqs(_ connection: ChatConnection, in conversation: String) -> [Int64] {
    Array(Set(connection.receivedEntries.filter { $0.conversation == conversation }.map(\.seq))).sorted()
}

@Suite(.serialized) struct ClusterTests {
    @Test func chatCrossesNodes() async throws {
        try await Cluster.with { cluster in
            let alice = try await TestNode.client(cluster.url(0), "alice")
            let bobOnOne = try await TestNode.client(cluster.url(1), "bob"), bobOnTwo = try await TestNode.client(cluster.url(2), "bob")
            let carol = try await TestNode.client(cluster.url(2), "carol")
            try await alice.withConnection { a in
                try await bobOnOne.withConnection { bobPhone in
                    try await bobOnTwo.withConnection { bobLaptop in
                        try await carol.withConnection { c in
                            // Direct: node 0 to both of bob's devices on nodes 1 and 2, and back.
                            let direct = try await a.createDirect(with: "bob").conversation.id
                            for index in 1...5 { _ = try await a.send("to bob \(index)", to: direct) }
                            for device in [bobPhone, bobLaptop] {
                                try await eventually("bob's devices get every message") { seqs(device, in: direct) == [1, 2, 3, 4, 5] }
                            }
                            _ = try await bobLaptop.send("hi alice", to: direct)
                            try await eventually("alice gets bob's reply") { a.receivedMessages.contains { $0.content == "hi alice" } }
                            try await eventually("bob's other device gets his own message") { bobPhone.receivedMessages.contains { $0.content == "hi alice" } }

                            // Group across three nodes, with a member joining on another node.
                            let group = try await c.createGroup(title: "three nodes", participants: ["alice"]).conversation.id
                            try await eventually("alice joins the group on her node") {
                                a.events.contains { $0.type == EventType.conversationJoined.rawValue }
                            }
                            _ = try await c.addParticipants(["bob"], to: group)
                            _ = try await c.send("hello group", to: group)
                            _ = try await a.send("hello from node 0", to: group)
                            for socket in [a, bobPhone, bobLaptop, c] {
                                try await eventually("every member on every node gets both") { seqs(socket, in: group).count == 2 }
                            }

                            // Receipts and typing cross nodes.
                            _ = try await bobPhone.mark(group, read: 2)
                            try await eventually("carol, on another node, gets bob's receipt") {
                                c.events.contains { frame in
                                    frame.type == EventType.receipt.rawValue && (try? frame.payload(ReceiptBody.self))?.user == "bob"
                                }
                            }
                            try await c.typing(in: group)
                            try await eventually("alice sees carol typing") { a.typingUsers(in: group).contains("carol") }
                        }
                    }
                }
            }
        }
    }

    /// Every read below comes right after the write's acknowledgement, on another node: the shared
    /// cache must already be correct then, not eventually.
    @Test func cachedListsAndActivityStayCorrectAcrossNodes() async throws {
        try await Cluster.with { cluster in
            let alice = try await TestNode.client(cluster.url(0), "alice")
            let bob = try await TestNode.client(cluster.url(1), "bob"), carol = try await TestNode.client(cluster.url(2), "carol")
            try await alice.withConnection { a in
                try await bob.withConnection { b in
                    try await carol.withConnection { c in
                        #expect(try await b.conversations().conversations.isEmpty, "bob's empty list, now cached on node 1's Redis")
                        let id = try await a.createGroup(title: "cache", participants: ["bob", "carol"]).conversation.id
                        #expect(try await b.conversations().conversations.map(\.conversation.id) == [id], "a new group shows at once")
                        #expect(try await c.conversation(id).lastMessage == nil, "no post yet, cached")

                        _ = try await a.send("one", to: id)
                        #expect(try await c.conversation(id).lastMessage?.content == "one")
                        #expect(try await b.conversations().conversations.first?.lastMessage?.content == "one")
                        #expect(try await b.conversations().conversations.first?.unread == 1)

                        _ = try await a.edit(1, in: id, to: "one, edited")
                        #expect(try await c.conversation(id).lastMessage?.content == "one, edited")
                        #expect(try await b.conversations().conversations.first?.lastMessage?.content == "one, edited")

                        _ = try await b.mark(id, read: 1)
                        #expect(try await b.conversations().conversations.first?.unread == 0, "a receipt on node 1 clears the unread count")

                        _ = try await a.delete(1, in: id)
                        #expect(try await c.conversation(id).lastMessage?.deletedAt != nil, "a deleted preview on node 2")
                        #expect(try await b.conversations().conversations.first?.lastMessage?.deletedAt != nil)

                        _ = try await a.removeParticipant("bob", from: id)
                        #expect(try await b.conversations().conversations.isEmpty, "a removal empties bob's list at once")
                    }
                }
            }
        }
    }

    @Test func presenceAndSupportClaimsCrossNodes() async throws {
        try await Cluster.with { cluster in
            let alice = try await TestNode.client(cluster.url(0), "alice")
            let dave = try await TestNode.client(cluster.url(1), "dave")
            try await alice.withConnection { a in
                _ = try await a.createDirect(with: "dave")
                try await dave.withConnection { _ in
                    try await eventually("alice on node 0 sees dave come online on node 1") {
                        a.presenceEvents.contains { $0.user == "dave" && $0.online }
                    }
                    #expect(try await a.presence(of: ["dave"]).first?.online == true)
                }
                try await eventually("and go offline") { a.presenceEvents.contains { $0.user == "dave" && !$0.online } }
                #expect(try await a.presence(of: ["dave"]).first?.online == false)
            }

            let agents = try await [1, 2].asyncMap { try await TestNode.client(cluster.url($0), "agent\($0)", roles: ["agent:acme"]) }
            let customer = try await TestNode.client(cluster.url(0), "cat")
            try await agents[0].withConnection { first in
                try await agents[1].withConnection { second in
                    try await customer.withConnection { cat in
                        let opened = try await cat.openSupportRequest(in: "acme", description: "help")
                        for socket in [first, second] {
                            try await eventually("agents on both nodes see it queued") {
                                socket.supportEvents.contains { $0.type == EventType.supportQueued.rawValue && $0.request.id == opened.request.id }
                            }
                        }
                        async let one = first.claimSupportRequest(opened.request.id)
                        async let two = second.claimSupportRequest(opened.request.id)
                        let outcomes = try await [one.outcome, two.outcome].sorted()
                        #expect(outcomes == ["claimed", "won"], "one claim wins, across nodes")
                        for socket in [first, second] {
                            try await eventually("both agents are told who took it") {
                                socket.supportEvents.contains { $0.type == EventType.supportClaimed.rawValue }
                            }
                        }
                    }
                }
            }
        }
    }

    /// The requeue job lives in Redis: the node that scheduled it may die before it is due.
    @Test func aSupportRequeueOutlivesTheNodeThatScheduledIt() async throws {
        try await Cluster.with(extra: ["--support-requeue-ms", "1500"]) { cluster in
            let leaving = try await TestNode.client(cluster.url(0), "agent1", roles: ["agent:acme"])
            let watching = try await TestNode.client(cluster.url(2), "agent2", roles: ["agent:acme"])
            let customer = try await TestNode.client(cluster.url(1), "cat")
            try await customer.withConnection { cat in
                let opened = try await cat.openSupportRequest(in: "acme", description: "help")
                let claim = try await leaving.withConnection { try await $0.claimSupportRequest(opened.request.id) }
                #expect(claim.outcome == "won")
                // Node 0 schedules the requeue before it tells agent1's contacts that agent1 left...
                try await eventually("cat sees agent1 go") { cat.presenceEvents.contains { $0.user == "agent1" && !$0.online } }
                // ...and dies before the job is due: another node runs it.
                cluster.nodes[0].signal(SIGKILL)
                try await watching.withConnection { watcher in
                    try await eventually(timeout: .seconds(20), "the unanswered request is queued again") {
                        try await watcher.supportQueue(of: "acme").map(\.id) == [opened.request.id]
                    }
                }
            }
        }
    }

    @Test func aKilledNodesUsersGoOfflineAndResumeElsewhere() async throws {
        let ttl = Duration.seconds(3)
        try await Cluster.with(presenceTTL: ttl) { cluster in
            let alice = try await TestNode.client(cluster.url(0), "alice")
            let bobOnDoomed = try await TestNode.client(cluster.url(2), "bob")
            try await alice.withConnection { a in
                let id = try await a.createDirect(with: "bob").conversation.id
                let positions: [String: Int64] = try await bobOnDoomed.withConnection { b in
                    try await eventually("alice sees bob online") { a.presenceEvents.contains { $0.user == "bob" && $0.online } }
                    for index in 1...3 { _ = try await a.send("before \(index)", to: id) }
                    try await eventually("bob has them") { seqs(b, in: id) == [1, 2, 3] }
                    let positions = b.positions
                    cluster.nodes[2].signal(SIGKILL)
                    let killed = ContinuousClock.now
                    try await eventually(timeout: ttl * 2, "alice sees bob offline") { a.presenceEvents.contains { $0.user == "bob" && !$0.online } }
                    let elapsed = ContinuousClock.now - killed
                    // One presence TTL, plus what delivering the event over loopback takes.
                    #expect(elapsed < ttl + .milliseconds(500), "offline after \(elapsed)")
                    return positions
                }
                for index in 4...6 { _ = try await a.send("while away \(index)", to: id) }
                let bobAgain = try await TestNode.client(cluster.url(1), "bob")
                try await bobAgain.withConnection(resume: positions) { b in
                    _ = try await a.send("after 7", to: id)
                    try await eventually("bob, on another node, gets everything after his position once") { seqs(b, in: id) == [4, 5, 6, 7] }
                    #expect(b.receivedEntries.filter { $0.conversation == id }.count == 4, "nothing twice")
                }
            }
        }
    }

    /// The SDK's session on a node that is SIGKILLed mid-conversation, while it is sending: it
    /// reconnects to another node by itself, the application sees every entry once, and each of its
    /// own sends is stored once. Then its next node drains: it follows the advisory to a third.
    @Test func aSessionWhoseNodeIsKilledReconnectsElsewhereAndSeesEverythingOnce() async throws {
        try await Cluster.with { cluster in
            let alice = try await TestNode.client(cluster.url(0), "alice")
            let session = ChatSession(
                nodes: [cluster.url(2), cluster.url(1), cluster.url(0)], token: try await TestNode.token("bob"),
                backoff: RetryPolicy(base: .milliseconds(50), factor: 2, cap: .milliseconds(500)))
            try await alice.withConnection { a in
                let id = try await a.createDirect(with: "bob").conversation.id
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await session.run() }
                    try await eventually("bob's session is up") { session.statuses.contains(.connected(node: cluster.url(2))) }
                    for index in 1...5 { _ = try await a.send("before \(index)", to: id) }
                    try await eventually("bob has them") { session.positions[id] == 5 }
                    try await withThrowingTaskGroup(of: Void.self) { traffic in
                        traffic.addTask {
                            for index in 1...10 {
                                _ = try await session.send("bob \(index)", to: id, clientID: "bob-\(index)")
                                try await Task.sleep(for: .milliseconds(20))  // paced, so the kill falls among the sends
                            }
                        }
                        try await eventually("bob's sends are under way") { session.positions[id, default: 0] > 6 }
                        cluster.nodes[2].signal(SIGKILL)
                        for index in 1...10 { _ = try await a.send("alice \(index)", to: id) }
                        try await traffic.waitForAll()
                    }
                    try await eventually(timeout: .seconds(30), "bob's session has all 25 entries") {
                        Set(session.entries.filter { $0.conversation == id }.map(\.seq)) == Set(1...25)
                    }
                    #expect(session.entries.filter { $0.conversation == id }.count == 25, "each entry once")
                    let stored = try await a.history(id, limit: 100).messages.filter { $0.sender == "bob" }.map(\.content)
                    #expect(stored.sorted() == (1...10).map { "bob \($0)" }.sorted(), "each of bob's sends stored once")
                    #expect(session.statuses.contains { if case .reconnecting = $0 { true } else { false } }, "\(session.statuses)")
                    #expect(session.statuses.contains(.connected(node: cluster.url(1))), "moved to the next node")

                    // A drain's advisory: the session moves to the next node at once, without a backoff.
                    let before = session.statuses.count
                    cluster.nodes[1].signal(SIGTERM)
                    try await eventually(timeout: .seconds(30), "moved off the draining node") {
                        session.statuses.dropFirst(before).contains(.connected(node: cluster.url(0)))
                    }
                    #expect(!session.statuses.dropFirst(before).contains { if case .reconnecting = $0 { true } else { false } }, "\(session.statuses)")
                    _ = try await a.send("after the drain", to: id)
                    try await eventually("and the next entry arrives there, once") { session.positions[id] == 26 }
                    #expect(session.entries.filter { $0.conversation == id }.count == 26)
                    group.cancelAll()
                }
            }
        }
    }

    /// Redelivery across nodes: a user away while 50 entries arrive in two conversations comes back on
    /// another node through the SDK's session and sees all 50 once, in order per conversation; a
    /// device on a third node that withholds its receipts gets them again, also after a node is
    /// SIGKILLed, until it acknowledges.
    @Test func aReturningUserGetsEverythingOnceAndAWithholdingDeviceUntilItAcknowledges() async throws {
        let redelivery = [
            "--redeliver-delay-ms", "300", "--jobs-retry-redeliver-base-ms", "300", "--jobs-retry-redeliver-jitter", "0",
            "--jobs-idle-max-ms", "200",
        ]
        try await Cluster.with(extra: redelivery) { cluster in
            let alice = try await TestNode.client(cluster.url(0), "alice")
            let eve = try await TestNode.client(cluster.url(1), "eve")
            try await alice.withConnection { a in
                let direct = try await a.createDirect(with: "bob").conversation.id
                let group = try await a.createGroup(title: "G", participants: ["bob", "eve"]).conversation.id
                for index in 1...25 {
                    _ = try await a.send("d\(index)", to: direct)
                    _ = try await a.send("g\(index)", to: group)
                }
                let session = ChatSession(nodes: [cluster.url(2)], token: try await TestNode.token("bob"))
                try await eve.withConnection { e in
                    func copies() -> Int { e.receivedEntries.filter { $0.conversation == group }.count }
                    try await withThrowingTaskGroup(of: Void.self) { tasks in
                        tasks.addTask { await session.run() }
                        try await eventually(timeout: .seconds(20), "bob has all 50") { session.positions[direct] == 25 && session.positions[group] == 25 }
                        #expect(session.entries.filter { $0.conversation == direct }.map(\.content) == (1...25).map { "d\($0)" }, "in order, once")
                        #expect(session.entries.filter { $0.conversation == group }.map(\.content) == (1...25).map { "g\($0)" }, "in order, once")
                        try await eventually(timeout: .seconds(20), "eve's device gets the range again, twice") { copies() >= 75 }
                        // The job lives in Redis between checks, and any node's runner takes the next one: the
                        // checks go on when a node dies (bob's; its runner may have been the one running them).
                        let seen = copies()
                        cluster.nodes[2].signal(SIGKILL)
                        try await eventually(timeout: .seconds(20), "the checks go on without node 2") { copies() >= seen + 25 }
                        // The count of finished checks over the nodes still running (node 2 counts 0).
                        func finished() async throws -> Int {
                            var total = 0
                            for node in cluster.nodes where node.isRunning {
                                total += (try? await RedeliveryTests.jobs(ChatClient(baseURL: node.url, token: ""), "done")) ?? 0
                            }
                            return total
                        }
                        let before = try await finished()
                        _ = try await e.mark(group, delivered: 25)
                        try await eventually(timeout: .seconds(20), "the check after the receipt finds nothing owed") { try await finished() > before }
                        let settled = copies()
                        _ = try await a.send("g26", to: group)
                        try await eventually("the next entry") { e.receivedEntries.contains { $0.seq == 26 } }
                        #expect(copies() == settled + 1, "no copy after the job ended")
                        tasks.cancelAll()
                    }
                }
            }
        }
    }

    @Test func aRedisRestartLosesNothingForConnectedClients() async throws {
        try await Cluster.with { cluster in
            let users = ["ann", "ben", "cal"]
            let clients = try await users.enumerated().asyncMap { index, user in try await TestNode.client(cluster.url(index), user) }
            try await clients[0].withConnection { ann in
                try await clients[1].withConnection { ben in
                    try await clients[2].withConnection { cal in
                        let sockets = [ann, ben, cal]
                        let group = try await ann.createGroup(title: "flow", participants: ["ben", "cal"]).conversation.id
                        for socket in [ben, cal] {
                            try await eventually("the members on other nodes joined") {
                                socket.events.contains { $0.type == EventType.conversationJoined.rawValue }
                            }
                        }
                        let perSender = 40
                        try await withThrowingTaskGroup(of: Void.self) { tasks in
                            for (index, socket) in sockets.enumerated() {
                                tasks.addTask {
                                    for round in 1...perSender {
                                        let clientID = "\(users[index])-\(round)"
                                        // A send during the outage still stores (PostgreSQL is up); retried only if refused.
                                        while true {
                                            do {
                                                _ = try await socket.send("\(clientID)", to: group, clientID: clientID)
                                                break
                                            } catch let error as ChatError where error.code == .unavailable || error.code == .rateLimited {
                                                try await Task.sleep(for: .milliseconds(50))
                                            }
                                        }
                                        try await Task.sleep(for: .milliseconds(25))
                                    }
                                }
                            }
                            tasks.addTask {
                                try await eventually("messages flow") { seqs(cal, in: group).count >= 15 }
                                try await cluster.redis.server.stop()
                                // The node says so: unready, and its broker gauge down (what the alert rules read).
                                let probe = ChatClient(baseURL: cluster.url(0), token: "")
                                try await eventually(timeout: .seconds(30), "node 0 reports its pub/sub link down") {
                                    let metrics = try await probe.call("GET", "/metrics").body
                                    let ready = try await probe.call("GET", "/health/ready").status
                                    return ready == 503 && String(decoding: metrics, as: UTF8.self).contains("\nswitchboard_broker_up 0.0")
                                        && String(decoding: metrics, as: UTF8.self).contains("\nswitchboard_ready 0.0")
                                }
                                try await cluster.redis.server.restart()
                            }
                            try await tasks.waitForAll()
                        }
                        let total = Int64(perSender * sockets.count)
                        for (index, socket) in sockets.enumerated() {
                            try await eventually(timeout: .seconds(30), "\(users[index]) ends with every seq") { seqs(socket, in: group) == Array(1...total) }
                        }
                        for url in cluster.nodes.map(\.url) { try await cluster.waitUntilReady(url) }
                    }
                }
            }
        }
    }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

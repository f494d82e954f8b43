import ChatTesting
import Foundation
import Logging
import NIOCore
@testable import RedisClient
import Testing
import TestServers

/// What a sharded link must do, as a pure plan, and how a Redis URL names a cluster.
@Suite struct ShardedSubscriptionPlanTests {
    static let (a, b, c) = (ClusterNodeAddress(host: "10.0.0.1", port: 7000), ClusterNodeAddress(host: "10.0.0.2", port: 7000), ClusterNodeAddress(host: "10.0.0.3", port: 7000))
    /// Three primaries over the slots, as `redis-cli --cluster create` splits them.
    static let three = ClusterTopology(ranges: [
        .init(slots: 0...5460, primary: a, replicas: []), .init(slots: 5461...10922, primary: b, replicas: []),
        .init(slots: 10923...16383, primary: c, replicas: []),
    ])

    /// A channel name whose slot the primary `node` of `topology` serves.
    static func channel(on node: ClusterNodeAddress, in topology: ClusterTopology = three, _ tag: String = "") -> String {
        (0...).lazy.map { "ch\(tag)-\($0)" }.first { topology.primary(of: ClusterSlot(key: Array($0.utf8))) == node }!
    }

    @Test func eachWantedChannelIsSubscribedOnItsSlotsPrimary() {
        let (x, y, z) = (Self.channel(on: Self.a), Self.channel(on: Self.b), Self.channel(on: Self.c))
        let plan = ShardedSubscriptionPlan(wanted: [x, y, z], confirmed: [:], topology: Self.three)
        #expect(plan.subscribe == [Self.a: [x], Self.b: [y], Self.c: [z]])
        #expect(plan.unsubscribe.isEmpty && plan.close.isEmpty && plan.unrouted.isEmpty && plan.moved == 0)

        let settled = ShardedSubscriptionPlan(wanted: [x, y, z], confirmed: [Self.a: [x], Self.b: [y], Self.c: [z]], topology: Self.three)
        #expect(settled.isSettled)
    }

    /// After a failover or a migration the map names another primary: the channel goes there, counts as
    /// moved (its messages in between may be missing), and a link left with nothing is closed.
    @Test func aChannelWhoseSlotMovedIsSubscribedOnTheNewPrimary() {
        let (x, y) = (Self.channel(on: Self.a), Self.channel(on: Self.b))
        let promoted = ClusterNodeAddress(host: "10.0.0.4", port: 7000)
        let failedOver = ClusterTopology(ranges: [
            .init(slots: 0...5460, primary: promoted, replicas: []), .init(slots: 5461...10922, primary: Self.b, replicas: []),
            .init(slots: 10923...16383, primary: Self.c, replicas: []),
        ])
        let plan = ShardedSubscriptionPlan(wanted: [x, y], confirmed: [Self.a: [x], Self.b: [y]], topology: failedOver)
        #expect(plan.subscribe == [promoted: [x]])
        #expect(plan.unsubscribe == [Self.a: [x]])
        #expect(plan.close == [Self.a])
        #expect(plan.moved == 1)
    }

    /// A channel no longer wanted is unsubscribed where it is; its link stays while it carries others.
    @Test func anUnwantedChannelIsUnsubscribedAndItsLinkKeptForTheOthers() {
        let (x1, x2) = (Self.channel(on: Self.a, "1"), Self.channel(on: Self.a, "2"))
        let plan = ShardedSubscriptionPlan(wanted: [x2], confirmed: [Self.a: [x1, x2]], topology: Self.three)
        #expect(plan.unsubscribe == [Self.a: [x1]])
        #expect(plan.close.isEmpty && plan.subscribe.isEmpty && plan.moved == 0)

        let none = ShardedSubscriptionPlan(wanted: [], confirmed: [Self.a: [x1, x2]], topology: Self.three)
        #expect(none.close == [Self.a] && none.moved == 0)
    }

    /// Mid-failover no primary serves the slot: the channel waits, unrouted, and nothing else is undone.
    @Test func aChannelWhoseSlotNoPrimaryServesIsUnrouted() {
        let (x, y) = (Self.channel(on: Self.a), Self.channel(on: Self.b))
        let partial = ClusterTopology(ranges: [.init(slots: 5461...16383, primary: Self.b, replicas: [])])
        let plan = ShardedSubscriptionPlan(wanted: [x, y], confirmed: [Self.b: [y]], topology: partial)
        #expect(plan.unrouted == [x])
        #expect(plan.subscribe.isEmpty && plan.unsubscribe.isEmpty && plan.close.isEmpty)
        #expect(!plan.isSettled)
    }

    @Test func aURLWithSeveralHostsNamesAClustersSeeds() throws {
        let cluster = try RedisTarget(url: "redis://app:s3cret@10.0.0.1:7000,10.0.0.2:7001,redis-3")
        guard case .cluster(let seeds, let configuration) = cluster else {
            Issue.record("expected a cluster, got \(cluster)")
            return
        }
        #expect(seeds == [Self.a, ClusterNodeAddress(host: "10.0.0.2", port: 7001), ClusterNodeAddress(host: "redis-3", port: 6379)])
        #expect(configuration.user == "app" && configuration.password == "s3cret" && configuration.host == "10.0.0.1")
        #expect(!cluster.description.contains("s3cret"))

        guard case .server(let one) = try RedisTarget(url: "redis://10.0.0.1:7000/2") else {
            Issue.record("one host is a server")
            return
        }
        #expect(one.port == 7000 && one.database == 2)
        guard case .cluster(let single, _) = try RedisTarget(url: "rediss://10.0.0.1:7000", cluster: true) else {
            Issue.record("redis.cluster makes one host a cluster's seed")
            return
        }
        #expect(single == [Self.a])
        #expect(throws: RedisError.self) { try RedisTarget(url: "redis://10.0.0.1:7000,10.0.0.2:7001/1") }
        #expect(throws: RedisError.self) { try RedisTarget(url: "redis://10.0.0.1:7000,:7001") }
        #expect(throws: RedisError.self) { try RedisTarget(url: "redis://10.0.0.1:7000,10.0.0.2:99999") }
    }
}

/// Sharded pub/sub on a real Redis Cluster (three primaries, a replica each): channels on every shard,
/// a channel's slot migrated under it, its primary killed.
@Suite(.serialized) struct RedisClusterShardedPubSubTests {
    static var quiet: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// A cluster client and a running sharded link on it, with what the link delivers recorded.
    final class Running: Sendable {
        let cluster: RedisClusterClient
        let link: RedisShardedSubscriber
        let received = Recorder<String>()
        let resumed = Recorder<Void>()
        private let task: Task<Void, Never>
        private let consumer: Task<Void, Never>

        init(_ nodes: [String]) {
            var configuration = RedisConfiguration()
            configuration.backoff = RedisBackoff(base: .milliseconds(10), cap: .milliseconds(200))
            configuration.pubSubPingInterval = .milliseconds(500)
            configuration.commandTimeout = .seconds(2)
            cluster = RedisClusterClient(seeds: nodes.compactMap { ClusterNodeAddress($0) }, configuration: configuration)
            link = RedisShardedSubscriber(cluster: cluster, logger: RedisClusterShardedPubSubTests.quiet)
            task = Task { [link] in try? await link.run() }
            consumer = Task { [link, received, resumed] in
                for await event in link.events {
                    switch event {
                    case .message(let message): received.record(message.channel + "=" + String(buffer: message.payload))
                    case .resumed: resumed.record(())
                    }
                }
            }
        }

        func publish(_ channel: String, _ payload: String) async throws {
            try await cluster.execute(["SPUBLISH", RedisArgument(channel), RedisArgument(payload)])
        }

        func stop() async {
            task.cancel()
            await task.value
            await consumer.value
            cluster.close()
        }
    }

    /// Channels on every shard: each subscribed on its slot's primary (one connection per shard), each
    /// message delivered once; after an unsubscribe, nothing more from that channel.
    @Test func channelsOnEveryShardAreDeliveredAndUnsubscribedOnes() async throws {
        let cluster = try await OwnRedisCluster.shared()
        let running = Running(cluster.nodes)
        let map = try await running.cluster.topology()
        let prefix = TestRedis.uniquePrefix()
        let channels = map.primaries.map { ShardedSubscriptionPlanTests.channel(on: $0, in: map, prefix) }
        try await running.link.subscribe(channels)
        #expect(running.link.isConnected)
        for channel in channels { try await running.publish(channel, "1") }
        try await eventually("a message on every shard") { running.received.count == channels.count }
        #expect(Set(running.received.all) == Set(channels.map { $0 + "=1" }))

        try await running.link.unsubscribe([channels[0]])
        // The unsubscribe takes effect in the link's next pass: a fresh subscribe behind it is a fence.
        let fence = prefix + "-fence"
        try await running.link.subscribe([fence])
        try await running.publish(channels[0], "2")
        try await running.publish(channels[1], "2")
        try await running.publish(fence, "2")
        try await eventually("the fence's message") { running.received.all.contains(fence + "=2") }
        #expect(!running.received.all.contains(channels[0] + "=2"), "unsubscribed")
        #expect(running.received.all.contains(channels[1] + "=2"))
        #expect(running.resumed.count == 0, "nothing was interrupted")
        await running.stop()
    }

    /// A subscribed channel's slot migrated to another primary (as `redis-cli --cluster reshard` does,
    /// by hand): the old node drops the subscription (`sunsubscribe`), the link subscribes on the new
    /// primary and says `.resumed`; messages published there arrive.
    @Test func aChannelFollowsItsSlotToAnotherPrimary() async throws {
        let cluster = try await OwnRedisCluster.start()
        let running = Running(cluster.nodes)
        let map = try await running.cluster.topology()
        let channel = ShardedSubscriptionPlanTests.channel(on: map.primaries[0], in: map, TestRedis.uniquePrefix())
        try await running.link.subscribe([channel])
        try await running.publish(channel, "before")
        try await eventually("the first message") { running.received.count == 1 }

        let slot = ClusterSlot(key: Array(channel.utf8))
        let (from, to) = (map.primaries[0], map.primaries[1])
        try await SlotMigration.begin(slot, from: from, to: to).finish(primaries: map.primaries)
        try await eventually("the link resubscribed after the migration") { running.resumed.count >= 1 && running.link.isConnected }
        try await running.publish(channel, "after")
        try await eventually("the message from the new primary") { running.received.all.contains(channel + "=after") }
        #expect(try await running.cluster.topology().primary(of: slot) == to)
        await running.stop()
        await cluster.remove()
    }

    /// The primary of a subscribed channel killed (SIGKILL): once its replica is promoted the link is on
    /// it, has said `.resumed`, and messages published there arrive.
    @Test func aChannelFollowsItsShardThroughAFailover() async throws {
        let cluster = try await OwnRedisCluster.start()
        let running = Running(cluster.nodes)
        let map = try await running.cluster.topology()
        let channel = ShardedSubscriptionPlanTests.channel(on: map.primaries[2], in: map, TestRedis.uniquePrefix())
        try await running.link.subscribe([channel])
        try cluster.kill(map.primaries[2].description)
        try await eventually(timeout: .seconds(60), "the link on the promoted replica") {
            running.resumed.count >= 1 && running.link.isConnected
        }
        try await eventually(timeout: .seconds(30), "a message through the promoted replica") {
            // Published until one arrives: the cluster may refuse writes (CLUSTERDOWN) for a moment.
            try? await running.publish(channel, "after")
            return running.received.all.contains(channel + "=after")
        }
        #expect(try await running.cluster.topology().primary(of: ClusterSlot(key: Array(channel.utf8))) != map.primaries[2])
        await running.stop()
        await cluster.remove()
    }
}

/// A slot moved by hand from one primary to another, in the steps `redis-cli --cluster reshard` takes:
/// ``begin(_:from:to:)`` marks it importing on the target and migrating on the source, ``move(_:)``
/// migrates keys, ``finish(primaries:)`` gives the slot to the target on every primary.
struct SlotMigration {
    let slot: ClusterSlot
    let to: ClusterNodeAddress
    let source: RedisClient
    let targetID: String

    static func begin(_ slot: ClusterSlot, from: ClusterNodeAddress, to: ClusterNodeAddress) async throws -> SlotMigration {
        let source = RedisClient(configuration: .init(host: from.host, port: from.port))
        let target = RedisClient(configuration: .init(host: to.host, port: to.port))
        defer { target.close() }
        let sourceID = try #require(try await source.execute(["CLUSTER", "MYID"]).string)
        let targetID = try #require(try await target.execute(["CLUSTER", "MYID"]).string)
        try await target.execute(["CLUSTER", "SETSLOT", RedisArgument(slot.value), "IMPORTING", RedisArgument(sourceID)])
        try await source.execute(["CLUSTER", "SETSLOT", RedisArgument(slot.value), "MIGRATING", RedisArgument(targetID)])
        return SlotMigration(slot: slot, to: to, source: source, targetID: targetID)
    }

    /// Moves `keys` (of the slot) to the target.
    func move(_ keys: [String]) async throws {
        try await source.execute(["MIGRATE", RedisArgument(to.host), RedisArgument(to.port), "", 0, 5000, "KEYS"] + keys.map { RedisArgument($0) })
    }

    /// The slot is the target's on every primary (the target first, as the reshard does).
    func finish(primaries: [ClusterNodeAddress]) async throws {
        defer { source.close() }
        for node in [to] + primaries.filter({ $0 != to }) {
            let client = RedisClient(configuration: .init(host: node.host, port: node.port))
            defer { client.close() }
            try await client.execute(["CLUSTER", "SETSLOT", RedisArgument(slot.value), "NODE", RedisArgument(targetID)])
        }
    }
}

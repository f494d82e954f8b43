import ChatTesting
import Foundation
import NIOCore
@testable import RedisClient
import Synchronization
import Testing
import TestServers

/// Slot routing by itself: the specification's CRC16 and hash-tag rules, the slot map, redirections.
@Suite struct ClusterSlotTests {
    @Test func crc16IsTheSpecificationsXmodem() {
        // The cluster specification's test vector (Appendix A: "123456789" → 0x31C3).
        #expect(ClusterSlot.crc16(Array("123456789".utf8)) == 0x31C3)
        #expect(ClusterSlot(key: "123456789").value == 0x31C3)
        // CLUSTER KEYSLOT's documented examples.
        #expect(ClusterSlot(key: "somekey").value == 11058)
        #expect(ClusterSlot(key: "foo{hash_tag}").value == 2515)
    }

    @Test func aHashTagIsBetweenTheFirstOpeningBraceAndTheNextClosingOne() {
        func tag(_ key: String) -> String { String(decoding: ClusterSlot.hashTag(of: Array(key.utf8)), as: UTF8.self) }
        // The specification's examples.
        #expect(tag("{user1000}.following") == "user1000")
        #expect(tag("foo{}{bar}") == "foo{}{bar}", "an empty tag: the whole key")
        #expect(tag("foo{{bar}}zap") == "{bar")
        #expect(tag("foo{bar}{zap}") == "bar")
        #expect(tag("no braces") == "no braces")
        #expect(tag("open{only") == "open{only")
        #expect(ClusterSlot(key: "{user1000}.following") == ClusterSlot(key: "{user1000}.followers"))
        #expect(ClusterSlot(key: "{user1000}.following") == ClusterSlot(key: "user1000"))
    }

    @Test func theSlotMapNamesEachSlotsPrimary() throws {
        let a = ClusterNodeAddress(host: "10.0.0.1", port: 7000), b = ClusterNodeAddress(host: "10.0.0.2", port: 7001)
        let replica = ClusterNodeAddress(host: "10.0.0.3", port: 7002)
        func node(_ host: String, _ port: Int) -> RESPValue { .array([.bulkString(ByteBuffer(string: host)), .integer(Int64(port))]) }
        let reply = RESPValue.array([
            .array([.integer(5461), .integer(16383), node("10.0.0.2", 7001)]),
            .array([.integer(0), .integer(5460), node("", 7000), node("10.0.0.3", 7002)]),
        ])
        let map = try ClusterTopology(slotsReply: reply, from: ClusterNodeAddress(host: "10.0.0.1", port: 9999))
        #expect(map.primaries == [a, b], "in slot order; an empty host is the host that answered")
        #expect(map.primary(of: ClusterSlot(0)!) == a && map.primary(of: ClusterSlot(5460)!) == a)
        #expect(map.primary(of: ClusterSlot(5461)!) == b && map.primary(of: ClusterSlot(16383)!) == b)
        #expect(map.ranges[0].replicas == [replica])
        #expect(map.isComplete)
        let partial = ClusterTopology(ranges: [.init(slots: 0...100, primary: a, replicas: [])])
        #expect(!partial.isComplete && partial.primary(of: ClusterSlot(101)!) == nil)
        #expect(throws: RedisError.self) { try ClusterTopology(slotsReply: .array([.array([.integer(0)])]), from: a) }
    }

    @Test func movedAndAskAreReadFromTheirErrors() {
        let node = ClusterNodeAddress(host: "127.0.0.1", port: 6381)
        #expect(ClusterRedirect(error: "MOVED 3999 127.0.0.1:6381") == .moved(ClusterSlot(3999)!, node))
        #expect(ClusterRedirect(error: "ASK 3999 127.0.0.1:6381") == .ask(ClusterSlot(3999)!, node))
        #expect(ClusterRedirect(error: "MOVED 3999 [::1]:6381")?.node == ClusterNodeAddress(host: "[::1]", port: 6381))
        #expect(ClusterRedirect(error: "ERR unknown command") == nil)
        #expect(ClusterRedirect(error: "MOVED 16384 127.0.0.1:6381") == nil, "no such slot")
        #expect(ClusterRedirect(error: "MOVED 1 127.0.0.1") == nil, "no port")
    }

    @Test func aCommandIsRoutedByItsFirstKey() {
        func key(_ command: RedisCommand) -> String? { RedisClusterClient.routingKey(of: command).map { String(decoding: $0, as: UTF8.self) } }
        #expect(key(["GET", "a"]) == "a")
        #expect(key(["mget", "{t}a", "{t}b"]) == "{t}a")
        #expect(key(["EVALSHA", "abc", "2", "k1", "k2", "arg"]) == "k1")
        #expect(key(["EVAL", "return 1", "0", "arg"]) == nil, "a script with no keys runs anywhere")
        #expect(key(["SPUBLISH", "room", "hi"]) == "room")
        #expect(key(["PUBLISH", "room", "hi"]) == nil)
        #expect(key(["PING"]) == nil)
    }
}

extension ClusterSlotTests {
    /// An MGET over several slots goes as one MGET per slot and is answered as the one asked.
    @Test func anMGetOverSeveralSlotsIsSplitAndJoinedInKeyOrder() throws {
        let keys = ["{a}1", "{b}1", "{a}2", "{c}1"]
        #expect(ClusterSlot(key: "{a}1") != ClusterSlot(key: "{b}1") && ClusterSlot(key: "{b}1") != ClusterSlot(key: "{c}1"))
        let (sent, pieces) = RedisClusterClient.splitAcrossSlots([["GET", "x"], ["MGET"] + keys.map { RedisArgument($0) }, ["MGET", "{a}1", "{a}2"]])
        #expect(sent == [["GET", "x"], ["MGET", "{a}1", "{a}2"], ["MGET", "{b}1"], ["MGET", "{c}1"], ["MGET", "{a}1", "{a}2"]])
        #expect(pieces == [.whole(0), .keys(1, positions: [0, 2], of: 4), .keys(1, positions: [1], of: 4), .keys(1, positions: [3], of: 4), .whole(2)])
        func value(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }
        let replies: [RESPValue] = [value("x"), .array([value("a1"), .null]), .array([value("b1")]), .array([value("c1")]), .array([])]
        #expect(RedisClusterClient.join(replies, pieces, count: 3) == [value("x"), .array([value("a1"), value("b1"), .null, value("c1")]), .array([])])
        let failed: [RESPValue] = [value("x"), .array([value("a1"), .null]), .error("CLUSTERDOWN"), .array([value("c1")]), .array([])]
        #expect(RedisClusterClient.join(failed, pieces, count: 3)[1] == .error("CLUSTERDOWN"), "a part's error is the command's")
    }
}

/// The cluster client against a real Redis Cluster (three primaries, a replica each) that the test starts.
@Suite(.serialized) struct RedisClusterClientTests {
    static func client(_ cluster: OwnRedisCluster) -> RedisClusterClient {
        var configuration = RedisConfiguration()
        configuration.backoff = RedisBackoff(base: .milliseconds(10), cap: .milliseconds(200))
        return RedisClusterClient(seeds: cluster.nodes.prefix(2).compactMap { ClusterNodeAddress($0) }, configuration: configuration)
    }

    /// A plain client of one node, to look behind the cluster client's back.
    static func direct(_ node: ClusterNodeAddress) -> RedisClient {
        RedisClient(configuration: RedisConfiguration(host: node.host, port: node.port))
    }

    @Test func aPipelineOverManySlotsComesBackInOrderAndEachKeyLivesOnItsSlotsPrimary() async throws {
        // The run's shared cluster: this test only reads and writes keys of its own.
        let cluster = try await OwnRedisCluster.shared()
        let redis = Self.client(cluster)
        defer { redis.close() }
        let prefix = TestRedis.uniquePrefix()
        let keys = (0..<120).map { "\(prefix):\($0)" } + ["{\(prefix)}a", "{\(prefix)}b"]
        let replies = try await redis.send(keys.map { ["SET", RedisArgument($0), RedisArgument("v-" + $0)] } + keys.map { ["GET", RedisArgument($0)] })
        #expect(replies.prefix(keys.count).allSatisfy { $0 == .status("OK") })
        #expect(replies.suffix(keys.count).map(\.string) == keys.map { "v-" + $0 })
        let map = try await redis.topology()
        #expect(map.primaries.count == 3 && map.isComplete)
        #expect(Set(keys.map { map.primary(of: ClusterSlot(key: $0))! }).count == 3, "the keys are spread over every primary")
        for key in keys.prefix(20) + keys.suffix(2) {
            let owner = Self.direct(map.primary(of: ClusterSlot(key: key))!)
            defer { owner.close() }
            #expect(try await owner.execute(["CLUSTER", "KEYSLOT", RedisArgument(key)]).int == Int64(ClusterSlot(key: key).value))
            #expect(try await owner.execute(["GET", RedisArgument(key)]).string == "v-" + key, "stored on its slot's primary")
        }
        // A script over keys of one tag runs on their shard.
        let script = RedisScript("redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[2])")
        let got = try await redis.run(script, keys: [RedisArgument("{\(prefix)}c"), RedisArgument("{\(prefix)}a")], arguments: ["x"])
        #expect(got.string == "v-{\(prefix)}a")
    }

    /// `redis-cli --cluster reshard` of 1,000 slots from one primary to another while the client
    /// increments 200 keys of the source in pipelines and a sharded link holds channels of the source's
    /// slots: no increment fails or is lost (each key ends at the count of increments acknowledged, the
    /// moved ones found through ASK and MOVED), and every channel still delivers afterwards, the moved
    /// ones from their new primary.
    @Test func aReshardMidTrafficLosesNoWriteAndMovesTheSubscriptions() async throws {
        let cluster = try await OwnRedisCluster.start()
        let redis = Self.client(cluster)
        defer { redis.close() }
        let map = try await redis.topology()
        let source = try #require(ClusterNodeAddress(cluster.nodes[0]))
        try #require(map.primaries.contains(source))
        let keys = Array((0..<20_000).lazy.map { "key-\($0)" }.filter { map.primary(of: ClusterSlot(key: $0)) == source }.prefix(200))
        let channels = Array((0..<20_000).lazy.map { "channel-\($0)" }.filter { map.primary(of: ClusterSlot(key: $0)) == source }.prefix(100))
        let subscribed = RedisClusterShardedPubSubTests.Running(cluster.nodes)
        try await subscribed.link.subscribe(channels)

        let done = Atomic<Bool>(false)
        let traffic = Task { [keys] in
            var counts = [Int](repeating: 0, count: keys.count)
            var errors: [String] = []
            while !done.load(ordering: .relaxed) {
                for start in stride(from: 0, to: keys.count, by: 20) {
                    let indices = Array(start..<min(start + 20, keys.count))
                    do {
                        let replies = try await redis.send(indices.map { ["INCR", RedisArgument(keys[$0])] })
                        for (index, reply) in zip(indices, replies) {
                            if case .integer = reply { counts[index] += 1 } else { errors.append("\(keys[index]): \(reply)") }
                        }
                    } catch {
                        errors.append("\(error)")
                    }
                }
            }
            return (counts, errors)
        }
        try await cluster.reshard(slots: 1000)
        done.store(true, ordering: .relaxed)
        let (counts, errors) = await traffic.value
        #expect(errors.isEmpty, "\(errors.count) failed increments: \(errors.prefix(3))")
        let values = try await redis.send(keys.map { ["GET", RedisArgument($0)] })
        #expect(values.map { $0.string.flatMap { Int($0) } ?? 0 } == counts, "every acknowledged increment is there")
        #expect(counts.allSatisfy { $0 > 0 })
        let after = try await redis.refresh()
        let moved = keys.filter { after.primary(of: ClusterSlot(key: $0)) != source }
        #expect(!moved.isEmpty, "the reshard moved some of the keys")

        for channel in channels { try await subscribed.publish(channel, "after") }
        try await eventually("every channel delivers after the reshard") { Set(subscribed.received.all) == Set(channels.map { $0 + "=after" }) }
        let movedChannels = channels.filter { after.primary(of: ClusterSlot(key: Array($0.utf8))) != source }
        #expect(!movedChannels.isEmpty, "the reshard moved some of the channels")
        #expect(subscribed.resumed.count >= 1, "the moved channels' gap is marked")
        await subscribed.stop()
        await cluster.remove()
    }

    /// A slot migrated by hand (``SlotMigration``: `CLUSTER SETSLOT … MIGRATING/IMPORTING`, `MIGRATE`, `SETSLOT … NODE`):
    /// while it migrates, a moved key is found through `ASK` with the map unchanged; once it has moved,
    /// through `MOVED`, and the map is read again.
    @Test func aMigratingSlotIsFollowedThroughAskThenMoved() async throws {
        let cluster = try await OwnRedisCluster.start()
        let redis = Self.client(cluster)
        defer { redis.close() }
        let tag = "{\(TestRedis.uniquePrefix())}"
        let (moving, staying) = (tag + "moving", tag + "staying")
        _ = try await redis.send([["SET", RedisArgument(moving), "m"], ["SET", RedisArgument(staying), "s"]])
        let slot = ClusterSlot(key: moving)
        let map = try await redis.topology()
        let from = map.primary(of: slot)!
        let to = map.primaries.first { $0 != from }!
        let migration = try await SlotMigration.begin(slot, from: from, to: to)
        try await migration.move([moving])

        #expect(try await redis.execute(["GET", RedisArgument(moving)]).string == "m", "found through ASK")
        #expect(try await redis.execute(["GET", RedisArgument(staying)]).string == "s", "still at the source")
        #expect(try await redis.topology().primary(of: slot) == from, "ASK leaves the map as it is")

        try await migration.move([staying])
        try await migration.finish(primaries: map.primaries)
        #expect(try await redis.execute(["GET", RedisArgument(staying)]).string == "s", "found through MOVED")
        #expect(try await redis.topology().primary(of: slot) == to, "MOVED has the map read again")
        #expect(try await redis.send([["GET", RedisArgument(moving)], ["GET", RedisArgument(staying)]]).map(\.string) == ["m", "s"])
        await cluster.remove()
    }
}

extension RedisClusterClientTests {
    /// A primary killed (SIGKILL): its commands fail while the cluster fails over (as on one server that
    /// is down), and once a replica is promoted the client finds it by reading the map again, with the
    /// value the replica had acknowledged before the kill.
    @Test func afterAPrimaryIsKilledItsPromotedReplicaIsFound() async throws {
        let cluster = try await OwnRedisCluster.start()
        let redis = Self.client(cluster)
        defer { redis.close() }
        let key = TestRedis.uniquePrefix()
        try await redis.execute(["SET", RedisArgument(key), "kept"])
        let slot = ClusterSlot(key: key)
        let primary = try #require(try await redis.topology().primary(of: slot))
        // The write is on the replica before the primary dies (WAIT: replicas that acknowledged it).
        let owner = Self.direct(primary)
        #expect(try await owner.execute(["WAIT", 1, 5000]).int == 1)
        owner.close()
        // CLUSTER SLOTS names a replica once the answering node has heard (by gossip) that it holds data.
        var replicas: [ClusterNodeAddress] = []
        let heard = ContinuousClock.now + .seconds(30)
        while replicas.isEmpty, ContinuousClock.now < heard {
            replicas = try await redis.refresh().ranges.first { $0.slots.contains(slot.value) }?.replicas ?? []
            if replicas.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(replicas.count == 1)
        try cluster.kill(primary.description)

        var failures: [String] = []
        var reply: RESPValue?
        let deadline = ContinuousClock.now + .seconds(60)
        while reply == nil, ContinuousClock.now < deadline {
            do {
                reply = try await redis.execute(["GET", RedisArgument(key)])
            } catch {
                // Down (unavailable, closed, timeout) or refused while it fails over (CLUSTERDOWN): the
                // caller's retry, as the engine's callers do.
                failures.append("\(error)")
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(reply?.string == "kept", "after \(failures.count) failures, the last \(failures.suffix(3))")
        #expect(!failures.isEmpty, "the kill was seen")
        let after = try await redis.topology()
        #expect(after.primary(of: slot).map { replicas.contains($0) } == true, "the promoted replica serves the slot: \(after.ranges)")
        await cluster.remove()
    }
}

extension RedisClusterClientTests {
    /// A slot map read from a node that gives a slot no primary (a node that has not yet heard who owns
    /// it, as mid-failover or mid-reshard): a command for that slot fails with `unavailable`, and a later
    /// call reads the map again instead of failing for as long as the client lives.
    @Test func aSlotTheMapGivesNoPrimaryHasTheMapReadAgain() async throws {
        let cluster = try await OwnRedisCluster.start()
        let full = Self.client(cluster)
        defer { full.close() }
        let key = TestRedis.uniquePrefix()
        try await full.execute(["SET", RedisArgument(key), "here"])
        let slot = ClusterSlot(key: key)
        let map = try await full.topology()
        let owner = try #require(map.primary(of: slot))
        let other = try #require(map.primaries.first { $0 != owner })
        // The other primary forgets the slot's owner (its own view only: the owner's gossip restores it),
        // and a new client, whose only seed it is, reads its map before the gossip does (else again).
        let forgetful = Self.direct(other)
        defer { forgetful.close() }
        var misinformed: RedisClusterClient?
        let gossip = ContinuousClock.now + .seconds(30)
        while misinformed == nil, ContinuousClock.now < gossip {
            _ = try await forgetful.send([["CLUSTER", "DELSLOTS", RedisArgument("\(slot.value)")]])
            let candidate = RedisClusterClient(seeds: [other], configuration: full.configuration)
            if try await candidate.refresh().primary(of: slot) == nil { misinformed = candidate } else { candidate.close() }
        }
        let redis = try #require(misinformed, "a map without the slot's primary was read")
        defer { redis.close() }

        await #expect(throws: RedisError.self) { try await redis.execute(["GET", RedisArgument(key)]) }
        var reply: RESPValue?
        let deadline = ContinuousClock.now + .seconds(30)
        while reply == nil, ContinuousClock.now < deadline {
            do {
                reply = try await redis.execute(["GET", RedisArgument(key)])
            } catch {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        #expect(reply?.string == "here", "the map was read again once the node had heard of the owner")
        await cluster.remove()
    }
}

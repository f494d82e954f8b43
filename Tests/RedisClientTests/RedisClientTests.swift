import ChatTesting
import EventLoops
import Foundation
import Logging
import NIOCore
import NIOPosix
import RedisClient
import ServiceLifecycle
import Synchronization
import Testing
import TestServers

/// The client against a real redis-server: pipelining, replies, scripts, auth, pub/sub, reconnects.
@Suite struct RedisClientTests {
    static func client(_ url: String? = nil, _ tweak: (inout RedisConfiguration) -> Void = { _ in }) throws -> RedisClient {
        var configuration = try RedisConfiguration(url: url ?? TestRedis.url())
        configuration.backoff = RedisBackoff(base: .milliseconds(10), cap: .milliseconds(200))
        tweak(&configuration)
        return RedisClient(configuration: configuration)
    }

    @Test func everyReplyTypeFromTheServer() async throws {
        let redis = try Self.client()
        defer { redis.close() }
        let key = TestRedis.uniquePrefix()
        let replies = try await redis.send([
            ["SET", RedisArgument(key), RedisArgument([0, 1, 2, 255])], ["GET", RedisArgument(key)], ["INCR", RedisArgument(key + ":n")],
            ["GET", RedisArgument(key + ":missing")], ["HSET", RedisArgument(key + ":h"), "f", "v"], ["LPUSH", RedisArgument(key)],
            ["EVAL", "return {1, {'a', {false}}, 'b'}", 0], ["DEL", RedisArgument(key), RedisArgument(key + ":n"), RedisArgument(key + ":h")],
        ])
        #expect(replies[0] == .status("OK"))
        #expect(replies[1].bytes == [0, 1, 2, 255])
        #expect(replies[2] == .integer(1))
        #expect(replies[3] == .null)
        #expect(replies[4] == .integer(1))
        guard case .error(let message) = replies[5] else { Issue.record("an error reply, got \(replies[5])"); return }
        #expect(message.hasPrefix("ERR wrong number of arguments"))
        #expect(replies[6] == .array([.integer(1), .array([.bulkString(ByteBuffer(string: "a")), .array([.null])]), .bulkString(ByteBuffer(string: "b"))]))
        #expect(replies[7] == .integer(3))
        await #expect(throws: RedisError.server("WRONGTYPE Operation against a key holding the wrong kind of value")) {
            try await redis.execute(["SET", RedisArgument(key), "x"])
            try await redis.execute(["HGET", RedisArgument(key), "f"])
        }
        try await redis.execute(["DEL", RedisArgument(key)])
    }

    @Test func pipelinesManyCommandsAndManyCallers() async throws {
        let redis = try Self.client { $0.poolSize = 2 }
        defer { redis.close() }
        let key = TestRedis.uniquePrefix()
        // One write of 2,000 commands; replies come back in order.
        let replies = try await redis.send((1...2000).map { _ in ["INCR", RedisArgument(key)] })
        #expect(replies == (1...2000).map { .integer(Int64($0)) })
        // 50 callers at once on 2 connections: each gets its own replies.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<50 {
                group.addTask {
                    let field = RedisArgument("\(key):\(caller)")
                    for round in 0..<20 {
                        let reply = try await redis.send([["SET", field, RedisArgument(round)], ["GET", field]])
                        #expect(reply == [.status("OK"), .bulkString(ByteBuffer(string: "\(round)"))])
                    }
                }
            }
            try await group.waitForAll()
        }
        try await redis.execute(["DEL", RedisArgument(key)] + (0..<50).map { RedisArgument("\(key):\($0)") })
    }

    @Test func callersOnAnEventLoopUseThatLoopsConnection() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let redis = RedisClient(configuration: try RedisConfiguration(url: TestRedis.url()), group: group)
        defer { redis.close() }
        let loops = Array(group.makeIterator())
        // Pool of 4 on 2 loops: two connections on each, and every caller on a loop takes the same one.
        var idsByLoop: [[Int64]] = []
        for loop in loops {
            let ids = await EventLoopExecutor.prefer(loop) {
                var ids: [Int64] = []
                for _ in 0..<6 {
                    guard case .integer(let id) = try? await redis.execute(["CLIENT", "ID"]) else { return [Int64]() }
                    ids.append(id)
                }
                return ids
            }
            idsByLoop.append(ids)
        }
        #expect(idsByLoop.allSatisfy { $0.count == 6 && Set($0).count == 1 }, "\(idsByLoop)")
        #expect(Set(idsByLoop.map { $0.first }).count == 2, "each loop has its own connection")
        try await group.shutdownGracefully()
    }

    @Test func commandsWrittenInOnePassOfTheLoopGoOutInOneWrite() async throws {
        let reads = Mutex<[Int]>([])
        let server = try await FakeServer.start { chunk in
            let pings = String(buffer: chunk).components(separatedBy: "PING").count - 1
            reads.withLock { $0.append(pings) }
            return String(repeating: "+PONG\r\n", count: pings)
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let redis = RedisClient(configuration: try RedisConfiguration(url: "redis://127.0.0.1:\(server.port)"), group: group)
        #expect(try await redis.execute(["PING"]) == .status("PONG"))
        // Twenty callers resumed on the connection's loop in one pass (as a group commit's waiters are).
        let replies = await EventLoopExecutor.prefer(group.next()) {
            await withTaskGroup(of: RESPValue?.self) { callers in
                for _ in 0..<20 { callers.addTask { try? await redis.execute(["PING"]) } }
                return await callers.reduce(into: [RESPValue?]()) { $0.append($1) }
            }
        }
        #expect(replies == Array(repeating: .status("PONG"), count: 20))
        #expect(reads.withLock { $0 } == [1, 20], "the twenty commands reached the server in one write")
        redis.close()
        try await server.close()
        try await group.shutdownGracefully()
    }

    @Test func scriptsFallBackToEvalWhenTheServerForgot() async throws {
        let redis = try Self.client()
        defer { redis.close() }
        let key = TestRedis.uniquePrefix()
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1]) .. ':' .. '\(key)'")
        #expect(try await redis.run(script, keys: [RedisArgument(key)], arguments: [5]).string == "5:\(key)")
        #expect(try await redis.run(script, keys: [RedisArgument(key)], arguments: [5]).string == "10:\(key)")
        await #expect(throws: RedisError.self) { try await redis.run(RedisScript("return redis.call('NOPE')")) }
        try await redis.execute(["DEL", RedisArgument(key)])
    }

    @Test func authenticatesAsAnACLUserAndSelectsTheDatabase() async throws {
        let server = try await OwnRedis.start()
        let admin = try Self.client(server.url)
        let user = "app"
        try await admin.execute(["ACL", "SETUSER", RedisArgument(user), "on", ">s3cret", "~*", "&*", "+@all"])
        try await admin.execute(["CONFIG", "SET", "requirepass", "topsecret"])
        admin.close()
        let app = try Self.client("redis://\(user):s3cret@127.0.0.1:\(server.port)/3")
        try await app.execute(["SET", "where", "three"])
        let other = try Self.client("redis://:topsecret@127.0.0.1:\(server.port)/3")
        #expect(try await other.execute(["GET", "where"]).string == "three", "same database, reached with the default user")
        let zero = try Self.client("redis://:topsecret@127.0.0.1:\(server.port)/0")
        #expect(try await zero.execute(["GET", "where"]) == .null, "database 0 is another")
        let wrong = try Self.client("redis://\(user):nope@127.0.0.1:\(server.port)")
        await #expect {
            try await wrong.execute(["PING"])
        } throws: { error in
            guard case .server(let message) = error as? RedisError else { return false }
            return message.hasPrefix("AUTH failed")
        }
        for client in [app, other, zero, wrong] { client.close() }
        await server.remove()
    }

    @Test func timesOutAndClosesWhenTheServerIsSilent() async throws {
        let silent = try await FakeServer.start { _ in nil }
        let redis = try Self.client("redis://127.0.0.1:\(silent.port)") { $0.commandTimeout = .milliseconds(200) }
        let started = ContinuousClock.now
        await #expect(throws: RedisError.timeout) { try await redis.execute(["PING"]) }
        #expect(ContinuousClock.now - started < .seconds(3))
        redis.close()
        try await silent.close()
    }

    @Test func aMalformedReplyFailsTheCallAndTheNextCallReconnects() async throws {
        let calls = Atomic<Int>(0)
        let server = try await FakeServer.start { _ in
            // The first connection gets garbage; later ones a proper answer.
            calls.wrappingAdd(1, ordering: .relaxed).oldValue == 0 ? "?garbage\r\n" : "+PONG\r\n"
        }
        let redis = try Self.client("redis://127.0.0.1:\(server.port)") { $0.poolSize = 1 }
        await #expect {
            try await redis.execute(["PING"])
        } throws: { error in
            if case .protocolViolation = error as? RedisError { return true }
            return false
        }
        try await eventually("a new connection answers") { (try? await redis.execute(["PING"])) == .status("PONG") }
        redis.close()
        try await server.close()
    }

    @Test func pubSubDeliversUntilUnsubscribed() async throws {
        let redis = try Self.client()
        let (subscriber, events, task) = try Self.subscriber(try TestRedis.url())
        let channel = TestRedis.uniquePrefix() + ":{c}"
        try await eventually("connected") { subscriber.isConnected }
        try await subscriber.subscribe([channel])
        for index in 0..<100 { try await redis.execute(["PUBLISH", RedisArgument(channel), RedisArgument("m\(index)")]) }
        try await eventually("100 messages") { events.messages.count == 100 }
        #expect(events.messages.map(\.payload) == (0..<100).map { "m\($0)" }, "publish order")
        #expect(Set(events.messages.map(\.channel)) == [channel])
        try await subscriber.unsubscribe([channel])
        #expect(try await redis.execute(["PUBLISH", RedisArgument(channel), "late"]) == .integer(0), "no subscriber left")
        task.cancel()
        await task.value
        redis.close()
    }

    @Test func speaksTLSVerifyingTheServerAgainstTheGivenCA() async throws {
        let server = try await OwnRedis.start(tls: true)
        let byAddress = try Self.client(server.url)
        #expect(try await byAddress.execute(["PING"]) == .status("PONG"), "certificate checked against the IP address")
        let byName = try Self.client("rediss://localhost:\(server.port)?ca=\(server.caFile)")
        try await byName.execute(["SET", "k", "over tls"])
        #expect(try await byName.execute(["GET", "k"]).string == "over tls", "certificate checked against the host name")

        let (subscriber, events, task) = try Self.subscriber(server.url)
        try await eventually("the subscriber connects over TLS") { subscriber.isConnected }
        try await subscriber.subscribe(["tls:{c}"])
        try await byAddress.execute(["PUBLISH", "tls:{c}", "sealed"])
        try await eventually("a message over TLS") { events.messages.map(\.payload) == ["sealed"] }
        task.cancel()
        await task.value

        let untrusted = try Self.client("rediss://127.0.0.1:\(server.port)") { $0.connectTimeout = .seconds(2) }
        await #expect(throws: RedisError.self, "the system's roots do not know the test CA") { try await untrusted.execute(["PING"]) }
        for client in [byAddress, byName, untrusted] { client.close() }
        await server.remove()
    }

    /// Cancelled at any moment (mid-ping included, with a ping every millisecond), the subscriber's
    /// run ends: a service that cannot stop hangs its whole process at shutdown.
    @Test func aCancelledSubscriberAlwaysStops() async throws {
        for attempt in 0..<40 {
            let (subscriber, _, task) = try Self.subscriber(try TestRedis.url(), pingInterval: .milliseconds(1))
            try await eventually("connected") { subscriber.isConnected }
            try await Task.sleep(for: .microseconds(Int.random(in: 0...3000)))
            task.cancel()
            // Watched from outside, so that a subscriber that never stops fails the test instead of hanging it.
            let stopped = Recorder<Int>()
            Task { await task.value; stopped.record(attempt) }
            try await eventually(timeout: .seconds(5), "attempt \(attempt): the subscriber stops after its cancellation") { stopped.count == 1 }
        }
    }

    @Test func reconnectsAndSubscribesAgainAfterARestart() async throws {
        let server = try await OwnRedis.start()
        let redis = try Self.client(server.url)
        let (subscriber, events, task) = try Self.subscriber(server.url)
        try await eventually("connected") { subscriber.isConnected }
        try await subscriber.subscribe(["a", "b"])
        try await redis.execute(["PUBLISH", "a", "before"])
        try await eventually("first message") { events.messages.count == 1 }

        try await server.stop()
        await #expect(throws: RedisError.self) { try await redis.execute(["PING"]) }
        try await server.restart()

        try await eventually(timeout: .seconds(20), "resumed after the restart") { events.resumes == 1 }
        #expect(try await redis.execute(["PUBLISH", "b", "after"]) == .integer(1), "subscribed again, without asking")
        try await eventually("the message after the restart") { events.messages.count == 2 }
        #expect(events.messages.map(\.payload) == ["before", "after"])
        #expect(events.order.last == "after", "the resume marker comes before the messages that follow it")
        task.cancel()
        await task.value
        redis.close()
        await server.remove()
    }

    // MARK: Helpers

    final class Events: Sendable {
        struct Message: Sendable { let channel: String; let payload: String }
        private let state = Mutex<(messages: [Message], resumes: Int, order: [String])>(([], 0, []))
        var messages: [Message] { state.withLock { $0.messages } }
        var resumes: Int { state.withLock { $0.resumes } }
        var order: [String] { state.withLock { $0.order } }
        func add(_ event: RedisPubSubEvent) {
            state.withLock { state in
                switch event {
                case .message(let message):
                    state.messages.append(Message(channel: message.channel, payload: String(buffer: message.payload)))
                    state.order.append(String(buffer: message.payload))
                case .resumed:
                    state.resumes += 1
                    state.order.append("(resumed)")
                }
            }
        }
    }

    static func subscriber(_ url: String, pingInterval: Duration = .milliseconds(200)) throws -> (RedisSubscriber, Events, Task<Void, Never>) {
        var configuration = try RedisConfiguration(url: url)
        configuration.backoff = RedisBackoff(base: .milliseconds(10), cap: .milliseconds(200))
        configuration.pubSubPingInterval = pingInterval
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let subscriber = RedisSubscriber(configuration: configuration, logger: logger)
        let events = Events()
        let task = Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { try? await subscriber.run() }
                for await event in subscriber.events { events.add(event) }
            }
        }
        return (subscriber, events, task)
    }
}

/// A TCP server that answers each read with what `reply` returns for it (nothing for nil): a Redis
/// that misbehaves on purpose.
struct FakeServer {
    let channel: any Channel
    var port: Int { channel.localAddress!.port! }

    static func start(reply: @escaping @Sendable (ByteBuffer) -> String?) async throws -> FakeServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Answer(reply: reply)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return FakeServer(channel: channel)
    }

    func close() async throws { try await channel.close() }

    final class Answer: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let reply: @Sendable (ByteBuffer) -> String?
        init(reply: @escaping @Sendable (ByteBuffer) -> String?) { self.reply = reply }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard let text = reply(unwrapInboundIn(data)) else { return }
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
        }
    }
}

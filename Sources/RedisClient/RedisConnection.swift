import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// A pub/sub message pushed by the server on a subscribed connection.
public struct RedisPushMessage: Sendable {
    public var channel: String
    public var payload: ByteBuffer
}

/// Receives pushed messages on the connection's event loop; it must not block.
public typealias RedisPushHandler = @Sendable (RedisPushMessage) -> Void

/// Receives, on a sharded pub/sub connection's event loop, each channel a `sunsubscribe` array names
/// that no `SUNSUBSCRIBE` of ours waits for: the server dropped the subscription (the channel's slot
/// left the node). It must not block.
public typealias RedisShardUnsubscribeHandler = @Sendable (String) -> Void

/// Encoded commands and the promise of their replies, written as one unit.
struct RedisRequest: Sendable {
    var bytes: ByteBuffer
    var count: Int
    var promise: EventLoopPromise<[RESPValue]>
    /// The channels of the request's `SUNSUBSCRIBE`s, whose `sunsubscribe` arrays are its replies.
    var unsubscribing: Set<String> = []
}

/// Matches replies to requests in order (RESP2 answers in the order commands were sent), so any number
/// of requests may be in flight: pipelining. Requests written during one pass of the event loop go out
/// in one flush (one system call, and one read on the server's side), after the work already queued on
/// the loop has run: callers resumed together (a group commit's waiters) share a write. On a pub/sub connection, pushed `message` arrays go to the
/// push handler instead. A request with no reply by its deadline fails every pending request with
/// `timeout` and closes the connection, since later replies could no longer be matched. On a sharded
/// pub/sub connection, `sunsubscribe` arrays go to their own handler.
final class RedisCommandHandler: ChannelDuplexHandler {
    typealias InboundIn = RESPValue
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var remaining: Int
        var replies: [RESPValue]
        let promise: EventLoopPromise<[RESPValue]>
        let deadline: NIODeadline
        var unsubscribing: Set<String>
    }

    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    private var timer: Scheduled<Void>?
    private var flushQueued = false
    private let timeout: TimeAmount
    private let onPush: RedisPushHandler?
    private let onShardUnsubscribe: RedisShardUnsubscribeHandler?

    init(timeout: Duration, onPush: RedisPushHandler?, onShardUnsubscribe: RedisShardUnsubscribeHandler? = nil) {
        self.timeout = TimeAmount(timeout)
        self.onPush = onPush
        self.onShardUnsubscribe = onShardUnsubscribe
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        guard request.count > 0 else {
            request.promise.succeed([])
            promise?.succeed()
            return
        }
        pending.append(
            Pending(remaining: request.count, replies: [], promise: request.promise, deadline: .now() + timeout, unsubscribing: request.unsubscribing))
        if timer == nil { armTimer(context: context) }
        context.write(wrapOutboundOut(request.bytes), promise: promise)
        guard !flushQueued else { return }
        flushQueued = true
        let channel = context.channel
        context.eventLoop.assumeIsolated().execute { [self] in
            flushQueued = false
            channel.flush()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let value = unwrapInboundIn(data)
        if let onPush, let message = Self.push(value) {
            onPush(message)
            return
        }
        // A server may send `sunsubscribe` unasked (RESP2 cannot tell it from a confirmation): on a
        // sharded link it is the oldest request's reply when that request unsubscribes the channel,
        // and the server's own otherwise.
        if let onShardUnsubscribe, case .array(let parts) = value, parts.count == 3, parts[0].string == "sunsubscribe",
            let channel = parts[1].string
        {
            guard pending.first?.unsubscribing.contains(channel) == true else {
                onShardUnsubscribe(channel)
                return
            }
            pending[pending.startIndex].unsubscribing.remove(channel)
        }
        guard var head = pending.first else {
            fail(with: .protocolViolation("a reply nobody asked for"), context: context)
            return
        }
        head.replies.append(value)
        head.remaining -= 1
        if head.remaining == 0 {
            pending.removeFirst()
            head.promise.succeed(head.replies)
        } else {
            pending[pending.startIndex] = head
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let redisError = (error as? RedisError) ?? .unavailable("\(error)")
        fail(with: redisError, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        failAll(.connectionClosed)
    }

    private func fail(with error: RedisError, context: ChannelHandlerContext) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: RedisError) {
        timer?.cancel()
        timer = nil
        while let head = pending.popFirst() { head.promise.fail(error) }
    }

    /// One timer at a time, for the oldest request's deadline.
    private func armTimer(context: ChannelHandlerContext) {
        guard let deadline = pending.first?.deadline else {
            timer = nil
            return
        }
        let loop = context.eventLoop.assumeIsolated()
        timer = loop.scheduleTask(deadline: deadline) { [self] in
            timer = nil
            guard let head = pending.first else { return }
            if head.deadline <= .now() {
                fail(with: .timeout, context: context)
            } else {
                armTimer(context: context)
            }
        }
    }

    /// A pushed `message`/`smessage` (channel, payload) or `pmessage` (pattern, channel, payload).
    private static func push(_ value: RESPValue) -> RedisPushMessage? {
        guard case .array(let parts) = value, let kind = parts.first?.string else { return nil }
        switch (kind, parts.count) {
        case ("message", 3), ("smessage", 3):
            guard let channel = parts[1].string, case .bulkString(let payload) = parts[2] else { return nil }
            return RedisPushMessage(channel: channel, payload: payload)
        case ("pmessage", 4):
            guard let channel = parts[2].string, case .bulkString(let payload) = parts[3] else { return nil }
            return RedisPushMessage(channel: channel, payload: payload)
        default:
            return nil
        }
    }
}

/// One connection to Redis: TCP (or TLS), authenticated, database selected. Any number of callers may
/// send at once; their commands are pipelined on the socket and each gets its own replies.
public final class RedisConnection: Sendable {
    let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    /// Connects and runs the handshake (AUTH, SELECT, CLIENT SETNAME as configured). With `onPush`, the
    /// connection is for pub/sub: pushed messages go there. With `onShardUnsubscribe` too, it is for
    /// sharded pub/sub: a `sunsubscribe` the server sends unasked goes there (unsubscribe with
    /// ``unsubscribeShard(_:)``, whose replies are told apart).
    public static func connect(
        _ configuration: RedisConfiguration, on eventLoop: any EventLoop, onPush: RedisPushHandler? = nil,
        onShardUnsubscribe: RedisShardUnsubscribeHandler? = nil
    ) -> EventLoopFuture<RedisConnection> {
        let sslContext: NIOSSLContext?
        do {
            sslContext = try configuration.sslContext()
        } catch {
            return eventLoop.makeFailedFuture(RedisError.unavailable("TLS setup failed: \(error)"))
        }
        let host = configuration.host
        let timeout = configuration.commandTimeout
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        let serverName = host.first?.isNumber == true || host.contains(":") ? nil : host
                        try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    try sync.addHandler(ByteToMessageHandler(RESPReplyDecoder()))
                    try sync.addHandler(RedisCommandHandler(timeout: timeout, onPush: onPush, onShardUnsubscribe: onShardUnsubscribe))
                }
            }
        return bootstrap.connect(host: configuration.host, port: configuration.port)
            .flatMapErrorThrowing { error in throw RedisError.unavailable("cannot connect to \(configuration): \(error)") }
            .flatMap { channel in
                let connection = RedisConnection(channel: channel)
                let handshake = handshakeCommands(configuration)
                return connection.send(handshake).flatMapThrowing { replies in
                    for (command, reply) in zip(handshake, replies) {
                        if case .error(let message) = reply {
                            let name = String(decoding: command[0].bytes, as: UTF8.self)
                            throw RedisError.server("\(name) failed: \(message)")
                        }
                    }
                    return connection
                }.flatMapErrorThrowing { error in
                    channel.close(promise: nil)
                    throw error
                }
            }
    }

    static func handshakeCommands(_ configuration: RedisConfiguration) -> [RedisCommand] {
        var commands: [RedisCommand] = []
        if let password = configuration.password {
            if let user = configuration.user {
                commands.append(["AUTH", RedisArgument(user), RedisArgument(password)])
            } else {
                commands.append(["AUTH", RedisArgument(password)])
            }
        }
        if configuration.database != 0 { commands.append(["SELECT", RedisArgument(configuration.database)]) }
        if let name = configuration.clientName { commands.append(["CLIENT", "SETNAME", RedisArgument(name)]) }
        return commands
    }

    /// Sends `commands` in one write and returns their replies in order (error replies included, as values).
    public func send(_ commands: [RedisCommand]) -> EventLoopFuture<[RESPValue]> {
        send(commands, unsubscribing: [])
    }

    /// On a sharded pub/sub connection: one `SUNSUBSCRIBE` per channel, each answered by its
    /// `sunsubscribe` array or an error (`MOVED` when the node no longer serves the channel's slot).
    public func unsubscribeShard(_ channels: [String]) -> EventLoopFuture<[RESPValue]> {
        send(channels.map { ["SUNSUBSCRIBE", RedisArgument($0)] }, unsubscribing: Set(channels))
    }

    private func send(_ commands: [RedisCommand], unsubscribing: Set<String>) -> EventLoopFuture<[RESPValue]> {
        let promise = channel.eventLoop.makePromise(of: [RESPValue].self)
        var bytes = channel.allocator.buffer(capacity: 64 * max(commands.count, 1))
        for command in commands { RESPEncoder.encode(command, into: &bytes) }
        // The handler flushes once the loop has run what is queued on it (see RedisCommandHandler).
        let request = RedisRequest(bytes: bytes, count: commands.count, promise: promise, unsubscribing: unsubscribing)
        channel.write(request).whenFailure { error in
            promise.fail((error as? RedisError) ?? .connectionClosed)
        }
        return promise.futureResult
    }

    /// Sends `commands` in one write and returns their replies in order.
    public func send(_ commands: [RedisCommand]) async throws -> [RESPValue] {
        try await send(commands).get()
    }

    public var isActive: Bool { channel.isActive }

    /// Completes when the connection has closed.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    public func close() { channel.close(promise: nil) }
}

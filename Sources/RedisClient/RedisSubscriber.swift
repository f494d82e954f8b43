import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// What the pub/sub link delivers.
public enum RedisPubSubEvent: Sendable {
    /// A message published to a subscribed channel.
    case message(RedisPushMessage)
    /// The link was interrupted (a reconnect, or messages dropped because the consumer fell behind the
    /// buffer) and is whole again: every wanted channel is subscribed, but anything published during
    /// the interruption may be missing. Consumers re-read what they need from the source of truth.
    case resumed
}

/// A pub/sub link as a broker uses it: channels subscribed and unsubscribed, what they carry delivered
/// in ``events`` (a gap marked by `.resumed`), and the command that publishes to them.
public protocol RedisPubSubLink: Service, Sendable {
    var events: AsyncStream<RedisPubSubEvent> { get }
    /// From now on every event goes to `handler` instead of into ``events``: a message as it is read,
    /// on the link's event loop, with no buffer and no hop to a consumer task; a `.resumed` where the
    /// link finds itself whole again. Set it before the first subscribe; the handler must not block.
    func deliver(to handler: @escaping @Sendable (RedisPubSubEvent) -> Void)
    /// The event loop the link's connections live on, where a consumer of ``events`` runs best.
    var eventLoop: any EventLoop { get }
    /// True while every wanted channel is subscribed on a live connection.
    var isConnected: Bool { get }
    /// The command that publishes to this link's channels: `PUBLISH`, or `SPUBLISH` for sharded pub/sub.
    var publishCommand: String { get }
    func subscribe(_ channels: [String]) async throws(RedisError)
    func unsubscribe(_ channels: [String]) async throws(RedisError)
}

/// Pub/sub on a dedicated connection, as a Service: ``run()`` keeps the connection up, pings it to find
/// a dead link, reconnects with exponential backoff and jitter, and re-subscribes every wanted channel.
///
/// Guarantees: once ``subscribe(_:)`` returns, messages published to those channels arrive in
/// ``events`` (in publish order per publisher), and they keep arriving across reconnects until
/// ``unsubscribe(_:)``; every gap in the stream (a reconnect, an overflow of the bounded buffer) is
/// marked by a `.resumed` event after it. Pub/sub is at-most-once: the marker is the only signal of loss.
public final class RedisSubscriber: RedisPubSubLink {
    private struct State {
        var wanted: Set<String> = []
        var connection: RedisConnection?
        var connectedBefore = false
    }

    public var events: AsyncStream<RedisPubSubEvent> { sink.events }
    public func deliver(to handler: @escaping @Sendable (RedisPubSubEvent) -> Void) { sink.deliver(to: handler) }
    private let sink: PubSubEventSink
    private let state = Mutex(State())
    private let configuration: RedisConfiguration
    /// Where each (re)connect goes: `configuration`, or the server a resolver names at that moment.
    private let resolve: @Sendable () async throws -> RedisConfiguration
    /// The event loop of the link's connection.
    public let eventLoop: any EventLoop
    private let logger: Logger

    public convenience init(configuration: RedisConfiguration, eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(), logger: Logger) {
        self.init(configuration: configuration, resolve: { configuration }, eventLoop: eventLoop, logger: logger)
    }

    /// A link whose every connect goes where `resolve` says then (the primary Sentinel names, a sentinel
    /// in turn); `configuration` gives the buffer, the ping interval and the backoff.
    public init(
        configuration: RedisConfiguration, resolve: @escaping @Sendable () async throws -> RedisConfiguration,
        eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(), logger: Logger
    ) {
        self.configuration = configuration
        self.resolve = resolve
        self.eventLoop = eventLoop
        self.logger = logger
        self.sink = PubSubEventSink(bufferSize: configuration.pubSubBufferSize)
    }

    /// Drops the connection: the link connects again where its resolver says now, subscribes every
    /// wanted channel there and marks the gap (a Sentinel failover moved the primary).
    public func reconnect() {
        state.withLock { $0.connection }?.close()
    }

    public var publishCommand: String { "PUBLISH" }

    /// True while the link is up.
    public var isConnected: Bool { state.withLock { $0.connection?.isActive ?? false } }

    /// Subscribes to `channels`. Throws `unavailable` while the link is down (the channels stay wanted
    /// and are subscribed when it returns, unless unsubscribed meanwhile).
    public func subscribe(_ channels: [String]) async throws(RedisError) {
        guard !channels.isEmpty else { return }
        let connection = state.withLock { state in
            state.wanted.formUnion(channels)
            return state.connection
        }
        guard let connection, connection.isActive else { throw .unavailable("the pub/sub link is down") }
        try await Self.confirm(connection, verb: "SUBSCRIBE", channels)
    }

    /// Stops delivery from `channels`.
    public func unsubscribe(_ channels: [String]) async throws(RedisError) {
        guard !channels.isEmpty else { return }
        let connection = state.withLock { state in
            state.wanted.subtract(channels)
            return state.connection
        }
        // A link that is down has no subscriptions; the next one will not have these.
        guard let connection, connection.isActive else { return }
        try await Self.confirm(connection, verb: "UNSUBSCRIBE", channels)
    }

    /// One command per channel, pipelined, so each gets exactly one confirmation.
    private static func confirm(_ connection: RedisConnection, verb: String, _ channels: [String]) async throws(RedisError) {
        let replies: [RESPValue]
        do {
            replies = try await connection.send(channels.map { [RedisArgument(verb), RedisArgument($0)] })
        } catch let error as RedisError {
            throw error
        } catch {
            throw .unavailable("\(error)")
        }
        for reply in replies {
            guard reply.array?.first?.string?.lowercased() == verb.lowercased() else {
                throw .protocolViolation("unexpected reply to \(verb): \(reply)")
            }
        }
    }

    /// Keeps the link up until graceful shutdown, then closes it and finishes ``events``.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.maintain() }
        let connection = state.withLock { state in
            defer { state.connection = nil }
            return state.connection
        }
        connection?.close()
        sink.finish()
    }

    private func maintain() async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(try await resolve(), on: eventLoop) { [sink] message in
                    sink.deliver(message)
                }.get()
                let (wanted, resumed) = state.withLock { state in
                    state.connection = connection
                    defer { state.connectedBefore = true }
                    return (state.wanted, state.connectedBefore)
                }
                for chunk in Array(wanted).chunks(of: 512) { try await Self.confirm(connection, verb: "SUBSCRIBE", Array(chunk)) }
                if resumed {
                    logger.notice("redis pub/sub link restored; channels subscribed again", metadata: ["channels": "\(wanted.count)"])
                    sink.markGap()
                }
                failures = 0
                await watch(connection)
                logger.warning("redis pub/sub link lost", metadata: ["redis": "\(configuration)"])
            } catch {
                logger.warning("redis pub/sub connect failed", metadata: ["redis": "\(configuration)", "error": "\(error)"])
            }
            let dead = state.withLock { state in
                defer { state.connection = nil }
                return state.connection
            }
            dead?.close()
            sink.markLost()
            let delay = configuration.backoff.delay(after: failures)
            failures += 1
            do { try await Task.sleep(for: delay) } catch { return }
        }
    }

    /// Returns when the connection closes, after a ping goes unanswered, or on cancellation; the
    /// connection is closed in every case.
    private func watch(_ connection: RedisConnection) async {
        await withTaskGroup(of: Void.self) { group in
            // Waiting on the close future ignores cancellation: only closing the connection ends it.
            group.addTask { try? await connection.closeFuture.get() }
            group.addTask { [configuration] in
                while !Task.isCancelled {
                    do {
                        try await Task.sleep(for: configuration.pubSubPingInterval)
                        _ = try await connection.send([["PING"]])
                    } catch {
                        return
                    }
                }
            }
            await group.next()
            // Whichever ended first (a close, a failed ping, a cancelled pinger), the other must end too.
            connection.close()
            group.cancelAll()
        }
    }
}

/// The bounded stream a pub/sub link delivers into, and its gap marker: a message that does not fit is
/// dropped, and a `.resumed` event goes before the next one that does. Or, once given a handler
/// (``deliver(to:)``), every event goes to it directly, where it happens: nothing is buffered or dropped.
final class PubSubEventSink: Sendable {
    let events: AsyncStream<RedisPubSubEvent>
    private let continuation: AsyncStream<RedisPubSubEvent>.Continuation
    /// In a class: a closure kept directly as a `Mutex`'s value gains a reabstraction thunk at every
    /// `withLock { $0 }` that reads it, so each event would add a frame to the next one's call.
    private final class Handler: Sendable {
        let call: @Sendable (RedisPubSubEvent) -> Void
        init(_ call: @escaping @Sendable (RedisPubSubEvent) -> Void) { self.call = call }
    }

    private let handler = Mutex<Handler?>(nil)
    /// Set when something was lost; the next delivery is preceded by `.resumed`.
    private let lost = Atomic<Bool>(false)

    init(bufferSize: Int) {
        (events, continuation) = AsyncStream.makeStream(of: RedisPubSubEvent.self, bufferingPolicy: .bufferingOldest(max(bufferSize, 1)))
    }

    /// Every event from now on goes to `handler` instead of into ``events``.
    func deliver(to handler: @escaping @Sendable (RedisPubSubEvent) -> Void) {
        self.handler.withLock { $0 = Handler(handler) }
    }

    func deliver(_ message: RedisPushMessage) {
        if lost.load(ordering: .acquiring) {
            guard emit(.resumed) else { return }
            lost.store(false, ordering: .releasing)
        }
        if !emit(.message(message)) { lost.store(true, ordering: .releasing) }
    }

    /// Whatever arrives next follows a gap (the link is down; `markGap` follows once it is whole).
    func markLost() { lost.store(true, ordering: .releasing) }

    /// The link is whole again after a gap: say so now if the buffer has room, else before the next message.
    func markGap() { lost.store(!emit(.resumed), ordering: .releasing) }

    func finish() { continuation.finish() }

    /// Hands `event` on; false when the buffer had no room for it.
    private func emit(_ event: RedisPubSubEvent) -> Bool {
        if let handler = handler.withLock({ $0 }) {
            handler.call(event)
            return true
        }
        if case .enqueued = continuation.yield(event) { return true }
        return false
    }
}

extension Array {
    /// Consecutive parts of `size` elements (ChatCore has the same for the chat targets; this client
    /// depends on nothing of chat's).
    func chunks(of size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}

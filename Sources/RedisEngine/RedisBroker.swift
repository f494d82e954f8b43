import ChatCore
import EventLoops
import Logging
import NIOCore
import RedisClient
import ServiceLifecycle
import Synchronization

/// The ``Broker`` on Redis pub/sub, as a Service that owns the node's pub/sub link.
///
/// - Publishing is one `PUBLISH` on the command pool; the payload is ``EnvelopeCodec``'s bytes.
/// - Subscriptions go to the dedicated ``RedisSubscriber`` connection: one Redis subscription per
///   channel per node (the hub reference-counts local interest and calls `subscribe` once).
/// - Channel names are ``Channel/name(prefix:)``: the id in a hash tag, ready for sharded pub/sub.
/// - Pub/sub is at-most-once. Whenever the link was interrupted (a reconnect, or a consumer that fell
///   behind the bounded buffer), `onResume` runs once the link is whole again, and the node re-reads
///   from the store what it may have missed.
/// - Health: every `canaryInterval` the node publishes a canary to a channel of its own and must
///   receive it; ``isHealthy`` is false when the link is down or the last canary is older than three
///   intervals (a wedged link), and readiness follows it.
public final class RedisBroker: Broker, Service {
    private let client: RedisClient
    private let subscriber: RedisSubscriber
    private let node: NodeID
    private let prefix: String
    private let handler: EnvelopeHandler
    private let onResume: @Sendable () -> Void
    private let canaryInterval: Duration
    private let logger: Logger
    private let lastCanary = Mutex<ContinuousClock.Instant?>(nil)
    private let canaryChannel: String

    public init(
        client: RedisClient, subscriber: RedisSubscriber, node: NodeID, prefix: String, canaryInterval: Duration = .seconds(2),
        logger: Logger, handler: @escaping EnvelopeHandler, onResume: @escaping @Sendable () -> Void = {}
    ) {
        self.client = client
        self.subscriber = subscriber
        self.node = node
        self.prefix = prefix
        self.handler = handler
        self.onResume = onResume
        self.canaryInterval = canaryInterval
        self.logger = logger
        self.canaryChannel = "\(prefix):n:{\(node.rawValue)}"
    }

    public func publish(_ envelope: Envelope) async throws {
        try await mappingRedisErrors { try await client.execute(publication(of: envelope)) }
    }

    /// The command that publishes `envelope`, for ``publish(_:)`` and for a pipeline that invalidates
    /// before it (``RedisChangeFeed``).
    func publication(of envelope: Envelope) -> RedisCommand {
        ["PUBLISH", RedisArgument(envelope.channel.name(prefix: prefix)), RedisArgument(EnvelopeCodec.encode(envelope))]
    }

    public func subscribe(_ channel: ChatCore.Channel) async throws {
        try await mappingRedisErrors { try await subscriber.subscribe([channel.name(prefix: prefix)]) }
    }

    public func unsubscribe(_ channel: ChatCore.Channel) async throws {
        try await mappingRedisErrors { try await subscriber.unsubscribe([channel.name(prefix: prefix)]) }
    }

    /// True while the pub/sub link carries this node's own canary.
    public var isHealthy: Bool {
        guard subscriber.isConnected, let last = lastCanary.withLock({ $0 }) else { return false }
        return ContinuousClock.now - last < canaryInterval * 3
    }

    /// Delivers what the link brings until it ends (the subscriber finishes it at shutdown), and
    /// publishes the canary.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                try? await subscriber.run()
            }
            group.addTask { [self] in
                await cancelWhenGracefulShutdown { await self.sendCanaries() }
            }
            // The consumer runs on the link's event loop: a message reaches the hub without a hop
            // to the cooperative pool.
            await EventLoopExecutor.prefer(subscriber.eventLoop) { await consume() }
            group.cancelAll()
        }
    }

    private func consume() async {
        for await event in subscriber.events {
            switch event {
            case .message(let message):
                if message.channel == canaryChannel {
                    lastCanary.withLock { $0 = .now }
                    continue
                }
                guard let channel = ChatCore.Channel(name: message.channel, prefix: prefix),
                    let envelope = EnvelopeCodec.decode(message.payload, channel: channel)
                else {
                    logger.warning("dropped an unreadable pub/sub message", metadata: ["channel": "\(message.channel)"])
                    continue
                }
                handler(envelope)
            case .resumed:
                logger.notice("pub/sub link resumed; repairing from the store")
                onResume()
            }
        }
    }

    private func sendCanaries() async {
        // Once wanted, the canary channel is subscribed again after every reconnect by the subscriber.
        var subscribed = false
        while !Task.isCancelled {
            do {
                if !subscribed {
                    try await subscriber.subscribe([canaryChannel])
                    subscribed = true
                }
                try await client.execute(["PUBLISH", RedisArgument(canaryChannel), RedisArgument(node.rawValue)])
            } catch {
                logger.debug("canary failed", metadata: ["error": "\(error)"])
            }
            // Quickly at first, so a starting node turns ready as soon as its link works.
            let pause = isHealthy ? canaryInterval : min(canaryInterval, .milliseconds(100))
            do { try await Task.sleep(for: pause) } catch { return }
        }
    }
}

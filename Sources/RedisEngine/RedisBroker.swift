import ChatCore
import Logging
import NIOCore
import RedisClient
import ServiceLifecycle
import Synchronization

/// The ``Broker`` on Redis pub/sub, as a Service that owns the node's pub/sub link.
///
/// - Publishing is one `PUBLISH` on the command pool (`SPUBLISH` on a Redis Cluster, whose links are
///   ``RedisShardedSubscriber``s: each channel lives on its slot's shard); the payload is
///   ``EnvelopeCodec``'s bytes.
/// - Subscriptions go to the links (`redis.pubsub.links`, each on its own event loop: a
///   ``RedisSubscriber`` connection on one server, a ``RedisShardedSubscriber`` on a cluster): one Redis subscription per channel per node (the hub
///   reference-counts local interest and calls `subscribe` once), on the link the channel's name hashes
///   to. Each link hands what it reads to the hub on its own event loop, as it reads it (no task and
///   no buffer between), so what several links carry reaches the hub's shards in parallel, and one
///   channel's messages keep their publish order (they all cross one link).
/// - Channel names are ``Channel/name(prefix:)``: the id in a hash tag, ready for sharded pub/sub.
/// - Pub/sub is at-most-once. Whenever the link was interrupted (a reconnect), `onResume` runs once
///   the link is whole again, and the node re-reads from the store what it may have missed.
/// - Health: every `canaryInterval` the node publishes a canary to a channel of its own on each link and
///   must receive it; ``isHealthy`` is false when a link is down or its last canary is older than three
///   intervals (a wedged link), and readiness follows it.
public final class RedisBroker: Broker, Service {
    private let client: any RedisCommands
    private let links: [any RedisPubSubLink]
    /// `PUBLISH`, or `SPUBLISH` when the links are sharded.
    private let publishCommand: RedisArgument
    private let node: NodeID
    private let prefix: String
    private let handler: EnvelopeHandler
    private let onResume: @Sendable () -> Void
    private let canaryInterval: Duration
    private let logger: Logger
    /// Per link, when its last canary came back.
    private let lastCanary: Mutex<[ContinuousClock.Instant?]>
    /// Per link, the channel its canary goes to.
    private let canaryChannels: [String]

    /// `subscribers` are the links (at least one, all of one kind; channels are spread over them by name).
    public init(
        client: any RedisCommands, subscribers: [any RedisPubSubLink], node: NodeID, prefix: String, canaryInterval: Duration = .seconds(2),
        logger: Logger, handler: @escaping EnvelopeHandler, onResume: @escaping @Sendable () -> Void = {}
    ) {
        precondition(!subscribers.isEmpty, "a broker needs a pub/sub link")
        self.client = client
        self.links = subscribers
        self.publishCommand = RedisArgument(subscribers[0].publishCommand)
        self.node = node
        self.prefix = prefix
        self.handler = handler
        self.onResume = onResume
        self.canaryInterval = canaryInterval
        self.logger = logger
        // The first link's canary keeps the name it had with one link.
        self.canaryChannels = subscribers.indices.map { $0 == 0 ? "\(prefix):n:{\(node.rawValue)}" : "\(prefix):n:{\(node.rawValue)}:\($0)" }
        self.lastCanary = Mutex(Array(repeating: nil, count: subscribers.count))
        // Each link hands its messages over on its own event loop, as it reads them: no consumer task
        // and no hop per message, and the links run in parallel. (Weak: the links outlive no broker.)
        for (index, link) in subscribers.enumerated() {
            link.deliver { [weak self] event in self?.receive(event, link: index) }
        }
    }

    /// The link that carries `channel` (a stable hash of its name).
    private func link(for name: String) -> any RedisPubSubLink {
        guard links.count > 1 else { return links[0] }
        return links[Int(StableHash.fnv1a(name) % UInt64(links.count))]
    }

    public func publish(_ envelope: Envelope) async throws {
        try await mappingRedisErrors { try await client.execute(publication(of: envelope)) }
    }

    /// The command that publishes `envelope`, for ``publish(_:)`` and for a pipeline that invalidates
    /// before it (``RedisChangeFeed``).
    func publication(of envelope: Envelope) -> RedisCommand {
        [publishCommand, RedisArgument(envelope.channel.name(prefix: prefix)), RedisArgument(EnvelopeCodec.encode(envelope))]
    }

    public func subscribe(_ channel: ChatCore.Channel) async throws {
        let name = channel.name(prefix: prefix)
        try await mappingRedisErrors { try await link(for: name).subscribe([name]) }
    }

    public func unsubscribe(_ channel: ChatCore.Channel) async throws {
        let name = channel.name(prefix: prefix)
        try await mappingRedisErrors { try await link(for: name).unsubscribe([name]) }
    }

    /// True while every pub/sub link carries this node's own canary.
    public var isHealthy: Bool {
        guard links.allSatisfy(\.isConnected) else { return false }
        let now = ContinuousClock.now
        return lastCanary.withLock { $0.allSatisfy { last in last.map { now - $0 < canaryInterval * 3 } ?? false } }
    }

    /// Runs the links until they end (the subscribers end at shutdown), and publishes the canaries.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in
                await cancelWhenGracefulShutdown { await self.sendCanaries() }
            }
            await withTaskGroup(of: Void.self) { running in
                for link in links {
                    running.addTask { try? await link.run() }
                }
            }
            group.cancelAll()
        }
    }

    /// What link `index` brings, on its event loop.
    private func receive(_ event: RedisPubSubEvent, link index: Int) {
        switch event {
        case .message(let message):
            if message.channel == canaryChannels[index] {
                lastCanary.withLock { $0[index] = .now }
                return
            }
            guard let channel = ChatCore.Channel(name: message.channel, prefix: prefix),
                let envelope = EnvelopeCodec.decode(message.payload, channel: channel)
            else {
                logger.warning("dropped an unreadable pub/sub message", metadata: ["channel": "\(message.channel)"])
                return
            }
            handler(envelope)
        case .resumed:
            logger.notice("pub/sub link resumed; repairing from the store", metadata: ["link": "\(index)"])
            onResume()
        }
    }

    private func sendCanaries() async {
        // Once wanted, a canary channel is subscribed again after every reconnect by its subscriber.
        var subscribed = Array(repeating: false, count: links.count)
        while !Task.isCancelled {
            for (index, link) in links.enumerated() {
                do {
                    if !subscribed[index] {
                        try await link.subscribe([canaryChannels[index]])
                        subscribed[index] = true
                    }
                    try await client.execute([publishCommand, RedisArgument(canaryChannels[index]), RedisArgument(node.rawValue)])
                } catch {
                    logger.debug("canary failed", metadata: ["link": "\(index)", "error": "\(error)"])
                }
            }
            // Quickly at first, so a starting node turns ready as soon as its links work.
            let pause = isHealthy ? canaryInterval : min(canaryInterval, .milliseconds(100))
            do { try await Task.sleep(for: pause) } catch { return }
        }
    }
}

import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Sharded pub/sub (`SSUBSCRIBE`, Redis 7) on a Redis Cluster, as a Service: one connection to each
/// primary that serves a wanted channel's slot, all on one event loop; ``run()`` keeps every wanted
/// channel subscribed on its slot's primary as the cluster changes (``ShardedSubscriptionPlan`` says
/// what to do; this type does it).
///
/// Guarantees: once ``subscribe(_:)`` returns, messages `SPUBLISH`ed to those channels arrive in
/// ``events`` until ``unsubscribe(_:)``, across failovers and slot migrations: when a channel's slot
/// leaves its node (the server's own `sunsubscribe`, a lost connection, or a slot map that names
/// another primary), the slot map is read again and the channel subscribed on the new primary
/// (retrying with backoff while no primary serves it), and once every wanted channel is subscribed
/// again a `.resumed` event follows, because what was published in between may be missing (sharded
/// pub/sub is at-most-once, like pub/sub). ``subscribe(_:)`` throws `unavailable` when a channel's
/// shard cannot be reached; the channel stays wanted and is subscribed once it can. Every connection is
/// pinged each `pubSubPingInterval`; one that does not answer within the command timeout is closed.
public final class RedisShardedSubscriber: RedisPubSubLink {
    private struct Link {
        let connection: RedisConnection
        var confirmed: Set<String> = []
    }

    private struct Waiter {
        let channels: [String]
        let continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var wanted: Set<String> = []
        var links: [ClusterNodeAddress: Link] = [:]
        /// Callers of `subscribe` waiting for the next pass.
        var waiters: [Waiter] = []
        /// A wanted channel lost its subscription since the link was last whole.
        var gap = false
        var closed = false

        /// The channels subscribed on a live connection.
        var live: Set<String> {
            var live = Set<String>()
            for link in links.values where link.connection.isActive { live.formUnion(link.confirmed) }
            return live
        }
    }

    public var events: AsyncStream<RedisPubSubEvent> { sink.events }
    public func deliver(to handler: @escaping @Sendable (RedisPubSubEvent) -> Void) { sink.deliver(to: handler) }
    public let eventLoop: any EventLoop
    public var publishCommand: String { "SPUBLISH" }
    private let sink: PubSubEventSink
    private let cluster: RedisClusterClient
    private let configuration: RedisConfiguration
    private let state = Mutex(State())
    /// Asks ``run()``'s loop for a pass (coalesced: at most one waits).
    private let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let logger: Logger

    /// `cluster` gives the slot map; the connections use its configuration (credentials, TLS, timeouts)
    /// and `pubSubBufferSize`/`pubSubPingInterval`.
    public init(cluster: RedisClusterClient, eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(), logger: Logger) {
        self.cluster = cluster
        self.configuration = cluster.configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.sink = PubSubEventSink(bufferSize: cluster.configuration.pubSubBufferSize)
        (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// True while every wanted channel is subscribed on a live connection.
    public var isConnected: Bool {
        state.withLock { $0.wanted.isSubset(of: $0.live) }
    }

    /// Subscribes to `channels`, each on its slot's primary; returns once they are subscribed.
    public func subscribe(_ channels: [String]) async throws(RedisError) {
        guard !channels.isEmpty else { return }
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let accepted = state.withLock { state in
                    guard !state.closed else { return false }
                    state.wanted.formUnion(channels)
                    state.waiters.append(Waiter(channels: channels, continuation: continuation))
                    return true
                }
                guard accepted else { return continuation.resume(throwing: RedisError.closed) }
                wake.yield()
            }
        } catch let error as RedisError {
            throw error
        } catch {
            throw .unavailable("\(error)")
        }
    }

    /// Stops delivery from `channels`: nothing from them is delivered once it returns (the
    /// `SUNSUBSCRIBE`s follow in the next pass; a message already on its way is dropped on arrival).
    public func unsubscribe(_ channels: [String]) async throws(RedisError) {
        guard !channels.isEmpty else { return }
        state.withLock { $0.wanted.subtract(channels) }
        wake.yield()
    }

    /// Keeps the subscriptions where they belong until graceful shutdown, then closes every connection,
    /// fails the callers still waiting and finishes ``events``.
    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.maintain() }
        let (links, waiters) = state.withLock { state in
            state.closed = true
            defer {
                state.links = [:]
                state.waiters = []
            }
            return (Array(state.links.values), state.waiters)
        }
        for link in links { link.connection.close() }
        for waiter in waiters { waiter.continuation.resume(throwing: RedisError.closed) }
        sink.finish()
    }

    private func maintain() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [self] in await pingLinks() }
            var pending = wakes.makeAsyncIterator()
            var failures = 0
            while !Task.isCancelled {
                if await pass() {
                    failures = 0
                    guard await pending.next() != nil else { break }
                } else {
                    do { try await Task.sleep(for: Self.retry(configuration.backoff).delay(after: failures)) } catch { break }
                    failures += 1
                }
            }
            group.cancelAll()
        }
    }

    /// The delays between passes that left channels without a home: the configured backoff, at most a
    /// second apart, since a cluster's failover ends within seconds and every moment past it is a
    /// moment of lost live delivery (one `CLUSTER SLOTS` per try is all it costs).
    static func retry(_ backoff: RedisBackoff) -> RedisBackoff {
        RedisBackoff(base: backoff.base, cap: min(backoff.cap, .seconds(1)))
    }

    /// One reconciliation: returns true when every wanted channel is subscribed where it belongs.
    private func pass() async -> Bool {
        let (wanted, confirmed, waiting) = state.withLock { state in
            for (node, link) in state.links where !link.connection.isActive {
                if !link.confirmed.isDisjoint(with: state.wanted) { state.gap = true }
                state.links[node] = nil
            }
            defer { state.waiters = [] }
            return (state.wanted, state.links.mapValues(\.confirmed), state.waiters)
        }
        let plan: ShardedSubscriptionPlan
        do {
            plan = ShardedSubscriptionPlan(wanted: wanted, confirmed: confirmed, topology: try await cluster.topology())
        } catch {
            logger.warning("redis cluster slot map unavailable for pub/sub", metadata: ["error": "\(error)"])
            return settle(waiting, wanted: wanted, routed: false)
        }
        if !plan.unrouted.isEmpty {
            cluster.invalidate()
            logger.warning("no primary serves some pub/sub channels yet", metadata: ["channels": "\(plan.unrouted.count)"])
        }
        await execute(plan)
        return settle(waiting, wanted: wanted, routed: plan.unrouted.isEmpty)
    }

    private func execute(_ plan: ShardedSubscriptionPlan) async {
        // A channel that moved needs no SUNSUBSCRIBE: its old node has dropped it or is gone, and it
        // would answer MOVED. Only channels no longer wanted are unsubscribed, where they still live.
        let (closing, leaving) = state.withLock { state in
            if plan.moved > 0 { state.gap = true }
            var closing: [RedisConnection] = []
            var leaving: [(RedisConnection, [String])] = []
            for node in plan.close {
                if let link = state.links.removeValue(forKey: node) { closing.append(link.connection) }
            }
            for (node, channels) in plan.unsubscribe where !plan.close.contains(node) {
                guard let link = state.links[node] else { continue }
                state.links[node]?.confirmed.subtract(channels)
                let unwanted = channels.filter { !state.wanted.contains($0) }
                if !unwanted.isEmpty { leaving.append((link.connection, unwanted)) }
            }
            return (closing, leaving)
        }
        for connection in closing { connection.close() }
        for (connection, channels) in leaving {
            // An error here (MOVED: the slot left meanwhile, or a closed link) leaves nothing to undo.
            _ = try? await connection.unsubscribeShard(channels).get()
        }
        await withTaskGroup(of: Void.self) { group in
            for (node, channels) in plan.subscribe {
                group.addTask { [self] in await subscribe(channels, on: node) }
            }
        }
    }

    /// Subscribes `channels` on `node`, connecting first when there is no link to it.
    private func subscribe(_ channels: [String], on node: ClusterNodeAddress) async {
        do {
            let connection = try await link(to: node)
            for chunk in channels.chunks(of: 512) {
                let replies = try await connection.send(chunk.map { ["SSUBSCRIBE", RedisArgument($0)] }).get()
                var done: [String] = []
                for (channel, reply) in zip(chunk, replies) {
                    if reply.array?.first?.string == "ssubscribe" {
                        done.append(channel)
                    } else {
                        // MOVED (the slot map is stale) or another error: read the map again next pass.
                        cluster.invalidate()
                        logger.notice("sharded subscribe refused", metadata: ["node": "\(node)", "reply": "\(reply)"])
                    }
                }
                state.withLock { $0.links[node]?.confirmed.formUnion(done) }
            }
        } catch {
            cluster.invalidate()
            logger.warning("redis sharded pub/sub link failed", metadata: ["node": "\(node)", "error": "\(error)"])
        }
    }

    /// Delivers `message` while its channel is wanted: ``unsubscribe(_:)`` returns before the server
    /// has the `SUNSUBSCRIBE`, and nothing may be delivered after it.
    private func received(_ message: RedisPushMessage) {
        guard state.withLock({ $0.wanted.contains(message.channel) }) else { return }
        sink.deliver(message)
    }

    /// The live connection to `node`, made when there is none.
    private func link(to node: ClusterNodeAddress) async throws -> RedisConnection {
        if let existing = state.withLock({ $0.links[node]?.connection }), existing.isActive { return existing }
        var configuration = configuration
        configuration.host = node.host
        configuration.port = node.port
        let connection = try await RedisConnection.connect(
            configuration, on: eventLoop, onPush: { [weak self] message in self?.received(message) },
            onShardUnsubscribe: { [weak self] channel in self?.droppedByServer(channel, on: node) }
        ).get()
        connection.closeFuture.whenComplete { [weak self] _ in self?.wake.yield() }
        let kept = state.withLock { state in
            guard !state.closed else { return false }
            state.links[node] = Link(connection: connection)
            return true
        }
        guard kept else {
            connection.close()
            throw RedisError.closed
        }
        return connection
    }

    /// The server unsubscribed `channel` on its own: its slot left `node`.
    private func droppedByServer(_ channel: String, on node: ClusterNodeAddress) {
        let lost = state.withLock { state in
            guard state.links[node]?.confirmed.remove(channel) != nil, state.wanted.contains(channel) else { return false }
            state.gap = true
            return true
        }
        guard lost else { return }
        cluster.invalidate()
        wake.yield()
    }

    /// Answers the callers that waited for this pass and, once whole after a gap, says so in ``events``.
    /// The pass is complete when every channel it set out to place (`wanted`, still wanted) is
    /// subscribed on a live link: channels wanted since are the next pass's.
    private func settle(_ waiting: [Waiter], wanted: Set<String>, routed: Bool) -> Bool {
        let (live, complete, gap) = state.withLock { state in
            let live = state.live
            let complete = routed && wanted.intersection(state.wanted).isSubset(of: live)
            defer { if complete { state.gap = false } }
            return (live, complete, complete && state.gap)
        }
        for waiter in waiting {
            if complete || waiter.channels.allSatisfy(live.contains) {
                waiter.continuation.resume()
            } else {
                waiter.continuation.resume(throwing: RedisError.unavailable("a pub/sub shard cannot be reached; the channels stay wanted"))
            }
        }
        if gap {
            logger.notice("redis sharded pub/sub whole again; channels may have missed messages")
            sink.markGap()
        }
        return complete
    }

    /// Pings every link each `pubSubPingInterval`; one that fails or times out closes, which wakes a pass.
    private func pingLinks() async {
        while !Task.isCancelled {
            do { try await Task.sleep(for: configuration.pubSubPingInterval) } catch { return }
            let connections = state.withLock { $0.links.values.map(\.connection) }
            for connection in connections {
                connection.send([["PING"]]).whenFailure { _ in connection.close() }
            }
        }
    }
}

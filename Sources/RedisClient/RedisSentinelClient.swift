import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Commands to the primary that Redis Sentinel names for a master, as a Service that follows failovers.
///
/// Guarantees: the primary is asked of the sentinels in turn (`SENTINEL get-master-addr-by-name`) and
/// used only once it says `ROLE` master itself, so a node a sentinel still names but that was demoted
/// is never written to. The primary is looked up (once for all the callers that need it together)
/// again after a failed call, after a `READONLY` reply
/// (the node was demoted under us), and at once when a sentinel announces `+switch-master` for this
/// master (``run()`` listens on the sentinels, one at a time, in turn); then the links made with
/// ``subscriber(eventLoop:logger:)`` reconnect to the new primary and mark the gap, so the broker
/// repairs from the store what the failover may have lost. Nothing is retried behind the caller's back:
/// a call during the failover fails as on a server that is down (`unavailable`, `connectionClosed`,
/// `timeout`).
public final class RedisSentinelClient: RedisCommands, Service {
    /// The primary in use and the pool of connections to it.
    public typealias Primary = (address: ClusterNodeAddress, client: RedisClient)

    private struct State {
        var primary: Primary?
        var stale = true
        var subscribers: [RedisSubscriber] = []
        /// The sentinel the next lookup asks first (the last one that answered).
        var preferred = 0
        var closed = false
    }

    public let sentinels: [ClusterNodeAddress]
    public let master: String
    /// What the data nodes' connections use (credentials, database, TLS, timeouts, pool size).
    public let configuration: RedisConfiguration
    private let group: any EventLoopGroup
    private let state = Mutex(State())
    /// The lookup in flight, shared by the callers that find the primary stale meanwhile.
    private let looking = SingleFlight<Primary>()
    private let logger: Logger

    public init(
        sentinels: [ClusterNodeAddress], master: String, configuration: RedisConfiguration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) {
        precondition(!sentinels.isEmpty, "Sentinel mode needs a sentinel")
        self.sentinels = sentinels
        self.master = master
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    /// A sentinel's own connection settings: TLS and timeouts as the data nodes', no credentials or
    /// database (a sentinel has neither).
    private func sentinelConfiguration(_ sentinel: ClusterNodeAddress) -> RedisConfiguration {
        var settings = RedisConfiguration(host: sentinel.host, port: sentinel.port, tls: configuration.tls)
        settings.caFile = configuration.caFile
        settings.commandTimeout = configuration.commandTimeout
        settings.connectTimeout = configuration.connectTimeout
        settings.backoff = configuration.backoff
        settings.pubSubPingInterval = configuration.pubSubPingInterval
        settings.clientName = configuration.clientName
        return settings
    }

    /// The primary in use, looked up first when there is none or it may have changed.
    public func primary() async throws(RedisError) -> ClusterNodeAddress {
        try await current().address
    }

    private func current() async throws(RedisError) -> Primary {
        let known = try state.withLock { state throws(RedisError) -> Primary? in
            guard !state.closed else { throw .closed }
            return state.stale ? nil : state.primary
        }
        if let known { return known }
        return try await looking.run { [self] () async throws(RedisError) in try await lookUp() }
    }

    /// Asks the sentinels in turn for the primary and checks its role; swaps the pool when it moved.
    @discardableResult
    public func lookUp() async throws(RedisError) -> Primary {
        let first = state.withLock { $0.preferred }
        var last: RedisError = .unavailable("no sentinel named a primary for '\(master)'")
        for offset in sentinels.indices {
            let index = (first + offset) % sentinels.count
            let named: ClusterNodeAddress
            do {
                named = try await address(from: sentinels[index])
            } catch {
                last = error
                continue
            }
            // The pool in use when the primary has not moved (no new connection just to ask its role).
            let current = state.withLock { $0.primary }
            let candidate = current.flatMap { $0.address == named ? $0.client : nil } ?? client(for: named)
            do {
                let role = try await candidate.execute(["ROLE"])
                guard role.array?.first?.string == "master" else {
                    if candidate !== current?.client { candidate.close() }
                    last = .unavailable("\(named), which a sentinel names for '\(master)', is not a primary (yet)")
                    continue
                }
            } catch {
                if candidate !== current?.client { candidate.close() }
                last = error
                continue
            }
            return adopt(named, candidate, sentinel: index)
        }
        throw last
    }

    /// The address `sentinel` gives for the master.
    private func address(from sentinel: ClusterNodeAddress) async throws(RedisError) -> ClusterNodeAddress {
        let connection: RedisConnection
        do {
            connection = try await RedisConnection.connect(sentinelConfiguration(sentinel), on: group.next()).get()
        } catch {
            throw (error as? RedisError) ?? .unavailable("\(error)")
        }
        defer { connection.close() }
        let reply: RESPValue
        do {
            reply = try await connection.send([["SENTINEL", "get-master-addr-by-name", RedisArgument(master)]])[0]
        } catch {
            throw (error as? RedisError) ?? .unavailable("\(error)")
        }
        guard let parts = reply.array, parts.count == 2, let host = parts[0].string, let port = parts[1].string.flatMap({ Int($0) }) else {
            throw .unavailable("sentinel \(sentinel) knows no master '\(master)': \(reply)")
        }
        return ClusterNodeAddress(host: host, port: port)
    }

    private func client(for node: ClusterNodeAddress) -> RedisClient {
        var settings = configuration
        settings.host = node.host
        settings.port = node.port
        return RedisClient(configuration: settings, group: group)
    }

    /// Makes `client` the primary's pool; when the primary moved, the old pool closes and the links
    /// reconnect.
    private func adopt(_ address: ClusterNodeAddress, _ client: RedisClient, sentinel: Int) -> Primary {
        let (kept, replaced, subscribers) = state.withLock { state in
            state.preferred = sentinel
            if state.closed { return ((address, client), client as RedisClient?, [RedisSubscriber]()) }
            state.stale = false
            if let existing = state.primary, existing.address == address { return (existing, existing.client === client ? nil : client, []) }
            let old = state.primary?.client
            state.primary = (address, client)
            return ((address, client), old, old == nil ? [] : state.subscribers)
        }
        replaced?.close()
        if !subscribers.isEmpty {
            logger.notice("redis sentinel: the primary moved; pub/sub links reconnect", metadata: ["master": "\(master)", "primary": "\(address)"])
            for subscriber in subscribers { subscriber.reconnect() }
        }
        return kept
    }

    /// The next call looks the primary up again.
    public func invalidate() {
        state.withLock { $0.stale = true }
    }

    public func send(_ commands: [RedisCommand]) async throws(RedisError) -> [RESPValue] {
        let primary = try await current()
        do {
            let replies = try await primary.client.send(commands)
            // A demoted primary refuses writes: look again, and tell the caller it failed.
            for reply in replies {
                if case .error(let message) = reply, message.hasPrefix("READONLY") {
                    invalidate()
                    break
                }
            }
            return replies
        } catch {
            invalidate()
            throw error
        }
    }

    /// A pub/sub link on the primary: each connect goes to the primary looked up then, and it reconnects
    /// when the primary moves.
    public func subscriber(eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(), logger: Logger) -> RedisSubscriber {
        let subscriber = RedisSubscriber(
            configuration: configuration,
            resolve: { [weak self] in
                guard let self else { throw RedisError.closed }
                var settings = configuration
                let address = try await primary()
                settings.host = address.host
                settings.port = address.port
                return settings
            }, eventLoop: eventLoop, logger: logger)
        state.withLock { $0.subscribers.append(subscriber) }
        return subscriber
    }

    /// Listens for `+switch-master` on the sentinels (one at a time: the next after a lost link) until
    /// graceful shutdown; on a switch of this master, or after the listening link was interrupted (a
    /// switch may have been missed), looks the primary up again.
    public func run() async throws {
        let turn = Atomic<Int>(0)
        let listener = RedisSubscriber(
            configuration: sentinelConfiguration(sentinels[0]),
            resolve: { [self] in sentinelConfiguration(sentinels[turn.wrappingAdd(1, ordering: .relaxed).oldValue % sentinels.count]) },
            logger: logger)
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await listener.run() }
            group.addTask { [self] in
                await cancelWhenGracefulShutdown {
                    while !Task.isCancelled {
                        do {
                            try await listener.subscribe(["+switch-master"])
                            return
                        } catch {
                            try? await Task.sleep(for: .milliseconds(100))
                        }
                    }
                }
                for await event in listener.events {
                    switch event {
                    case .message(let message):
                        // "<name> <old host> <old port> <new host> <new port>"
                        guard String(buffer: message.payload).split(separator: " ").first.map(String.init) == master else { continue }
                        logger.notice("redis sentinel: +switch-master", metadata: ["master": "\(master)", "switch": "\(String(buffer: message.payload))"])
                    case .resumed:
                        break
                    }
                    invalidate()
                    _ = try? await current()
                }
            }
            await group.next()
            group.cancelAll()
        }
        close()
    }

    /// Closes the primary's pool; later calls fail with `closed`.
    public func close() {
        let client = state.withLock { state in
            state.closed = true
            defer { state.primary = nil }
            return state.primary?.client
        }
        client?.close()
    }
}

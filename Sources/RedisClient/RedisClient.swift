import Logging
import NIOCore
import NIOPosix
import Synchronization

/// A small pool of Redis connections for commands. Each call takes the next connection in turn, so
/// concurrent callers share every connection by pipelining. A caller running on an event loop takes
/// the first connection that lives on that loop, when there is one: its command is written and its
/// reply read without a hop to another thread and back (under load each hop is a wake-up and a context
/// switch), and the commands of callers on one loop share that connection's writes.
///
/// Guarantees: a connection that closes is replaced on the next call that needs it; after a failed
/// attempt, calls on that connection fail fast with `unavailable` until its backoff (exponential with
/// full jitter) has passed, so a Redis outage costs callers nothing but the error. Never blocks an
/// event loop; nothing is retried behind the caller's back (a command whose connection closed may or
/// may not have run: `connectionClosed`).
public final class RedisClient: RedisCommands {
    public let configuration: RedisConfiguration
    private let slots: [PoolSlot]
    private let next = Atomic<Int>(0)

    public init(configuration: RedisConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.configuration = configuration
        self.slots = (0..<max(configuration.poolSize, 1)).map { _ in PoolSlot(configuration: configuration, eventLoop: group.next()) }
    }

    /// Sends `commands` pipelined on one connection; error replies come back as values.
    public func send(_ commands: [RedisCommand]) async throws(RedisError) -> [RESPValue] {
        let slot = nextSlot()
        do {
            let connection = try await slot.connection()
            return try await connection.send(commands)
        } catch let error as RedisError {
            throw error
        } catch {
            throw .unavailable("\(error)")
        }
    }

    /// The first connection on the caller's event loop, or the next of all in turn when the caller
    /// runs on none of theirs.
    private func nextSlot() -> PoolSlot {
        for slot in slots where slot.eventLoop.inEventLoop { return slot }
        return slots[Int(UInt(bitPattern: next.wrappingAdd(1, ordering: .relaxed).oldValue) % UInt(slots.count))]
    }

    /// Closes every connection; later calls fail with `closed`.
    public func close() {
        for slot in slots { slot.close() }
    }
}

/// One pooled connection and its reconnect state.
final class PoolSlot: Sendable {
    private enum State {
        case idle(failures: Int, retryAt: NIODeadline)
        case connecting(EventLoopFuture<RedisConnection>, failures: Int)
        case ready(RedisConnection)
        case closed
    }

    private let state = Mutex(State.idle(failures: 0, retryAt: .uptimeNanoseconds(0)))
    private let configuration: RedisConfiguration
    let eventLoop: any EventLoop

    init(configuration: RedisConfiguration, eventLoop: any EventLoop) {
        self.configuration = configuration
        self.eventLoop = eventLoop
    }

    func connection() async throws -> RedisConnection {
        enum Step { case use(RedisConnection), wait(EventLoopFuture<RedisConnection>), started(EventLoopFuture<RedisConnection>, failures: Int) }
        let step: Step = try state.withLock { state in
            let failures: Int
            switch state {
            case .ready(let connection) where connection.isActive:
                return .use(connection)
            case .ready:
                failures = 0
            case .connecting(let future, _):
                return .wait(future)
            case .closed:
                throw RedisError.closed
            case .idle(let count, let retryAt):
                let now = NIODeadline.now()
                guard now >= retryAt else {
                    throw RedisError.unavailable(
                        "cannot reach \(configuration.host):\(configuration.port); retrying in \((retryAt - now).nanoseconds / 1_000_000) ms")
                }
                failures = count
            }
            let future = RedisConnection.connect(configuration, on: eventLoop)
            state = .connecting(future, failures: failures)
            return .started(future, failures: failures)
        }
        switch step {
        case .use(let connection):
            return connection
        case .wait(let future):
            return try await future.get()
        case .started(let future, let failures):
            future.whenComplete { [self] result in
                let stale: RedisConnection? = state.withLock { state in
                    guard case .connecting = state else {
                        // Closed meanwhile: the new connection has no home.
                        return try? result.get()
                    }
                    switch result {
                    case .success(let connection):
                        state = .ready(connection)
                    case .failure:
                        state = .idle(failures: failures + 1, retryAt: .now() + TimeAmount(configuration.backoff.delay(after: failures)))
                    }
                    return nil
                }
                stale?.close()
            }
            return try await future.get()
        }
    }

    func close() {
        let connection: RedisConnection? = state.withLock { state in
            defer { state = .closed }
            if case .ready(let connection) = state { return connection }
            return nil
        }
        connection?.close()
    }
}

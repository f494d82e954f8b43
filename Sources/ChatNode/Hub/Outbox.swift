import ChatCore
import ChatWire
import NIOCore
import Synchronization

/// What a connection's writer is asked to do.
public enum OutboundItem: Sendable {
    case frame(ByteBuffer)
    case close(CloseCode, reason: String)
}

/// A connection's bounded outbound queue. Producers (fan-out, replies) never wait: `send` enqueues or,
/// when the queue is full, marks the connection a slow consumer, ends the queue and calls `onOverflow`
/// once; the transport then closes the socket with ``CloseCode/slowConsumer``, even when its writer is
/// stuck on a socket the client stopped reading. A close request (``close(_:reason:)``) calls
/// `onClose` once, so the transport can drop the socket after a bounded time whatever the client does
/// (a drain must end even when a client neither reads nor answers the close frame). Frames share their bytes: a ByteBuffer is
/// copy-on-write, so one encoded event sits in memory once however many outboxes hold it.
public final class Outbox: Sendable {
    public let items: AsyncStream<OutboundItem>
    private let continuation: AsyncStream<OutboundItem>.Continuation
    private let overflowed = Atomic<Bool>(false)
    private let queued = Atomic<Int>(0)
    /// Frames the queue holds at most.
    public let capacity: Int
    private let onOverflow: @Sendable () -> Void
    private let onClose: @Sendable () -> Void
    private let closeRequested = Atomic<Bool>(false)

    /// - Parameters:
    ///   - onOverflow: called once, from the producer that overflowed the queue; it must not block.
    ///   - onClose: called once, from the first close request; it must not block.
    public init(capacity: Int, onOverflow: @escaping @Sendable () -> Void = {}, onClose: @escaping @Sendable () -> Void = {}) {
        self.capacity = max(capacity, 1)
        self.onOverflow = onOverflow
        self.onClose = onClose
        (items, continuation) = AsyncStream.makeStream(of: OutboundItem.self, bufferingPolicy: .bufferingOldest(max(capacity, 1)))
    }

    /// Queues a frame; returns false (and ends the queue) when the connection is too slow.
    @discardableResult public func send(_ frame: ByteBuffer) -> Bool {
        switch continuation.yield(.frame(frame)) {
        case .enqueued:
            queued.add(1, ordering: .relaxed)
            return true
        case .dropped:
            evict()
            return false
        case .terminated: return false
        @unknown default: return false
        }
    }

    /// Queues a frame given as bytes.
    @discardableResult public func send(bytes: [UInt8]) -> Bool { send(ByteBuffer(bytes: bytes)) }

    /// Asks the writer to close the socket after what is already queued, and the transport (through
    /// `onClose`) to drop it if that has not happened within its close timeout.
    public func close(_ code: CloseCode, reason: String) {
        continuation.yield(.close(code, reason: reason))
        continuation.finish()
        if !closeRequested.exchange(true, ordering: .relaxed) { onClose() }
    }

    /// Ends the queue without a close request (the socket is already gone).
    public func finish() { continuation.finish() }

    /// The writer took a frame off the queue.
    public func written() { queued.subtract(1, ordering: .relaxed) }

    /// Frames queued and not yet written (approximate while producers run).
    public var backlog: Int { queued.load(ordering: .relaxed) }

    /// Waits until at most half the queue is used, so that a producer with much to send (a resume)
    /// fills it in steps instead of overflowing it. A queue that does not drain to half within
    /// `patience` marks a slow consumer all the same: it is ended as on overflow. Returns false when the queue ended.
    public func waitForRoom(patience: Duration) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: patience)
        while backlog > capacity / 2 {
            if isSlowConsumer || Task.isCancelled { return false }
            if ContinuousClock.now >= deadline {
                evict()
                return false
            }
            do { try await Task.sleep(for: .milliseconds(5)) } catch { return false }
        }
        return !isSlowConsumer
    }

    /// Treats the connection as a slow consumer: ends the queue and calls `onOverflow` (once).
    public func evict() {
        continuation.finish()
        if !overflowed.exchange(true, ordering: .relaxed) { onOverflow() }
    }

    /// True once the queue overflowed.
    public var isSlowConsumer: Bool { overflowed.load(ordering: .relaxed) }
}

/// One authenticated connection on this node.
public final class Session: Sendable {
    public let id: ConnectionID
    public let principal: Principal
    public let outbox: Outbox
    /// Wakes the session's catch-up (``Hub/catchUp(_:)``) when the node owes it entries again: a
    /// conversation joined after the node began relaying it. Holds at most one pending wake-up.
    let catchUpWakeUps: AsyncStream<Void>
    private let wakeUp: AsyncStream<Void>.Continuation

    public init(id: ConnectionID, principal: Principal, outbox: Outbox) {
        self.id = id
        self.principal = principal
        self.outbox = outbox
        (catchUpWakeUps, wakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// The session has new catch-up cursors.
    func requestCatchUp() { wakeUp.yield() }

    /// The session is gone: its catch-up ends.
    func endCatchUp() { wakeUp.finish() }
}

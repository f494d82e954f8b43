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
/// when the queue is full, marks the connection a slow consumer and ends the queue; the writer then
/// closes the socket with ``CloseCode/slowConsumer``. Frames share their bytes: a ByteBuffer is
/// copy-on-write, so one encoded event sits in memory once however many outboxes hold it.
public final class Outbox: Sendable {
    public let items: AsyncStream<OutboundItem>
    private let continuation: AsyncStream<OutboundItem>.Continuation
    private let overflowed = Atomic<Bool>(false)

    public init(capacity: Int) {
        (items, continuation) = AsyncStream.makeStream(of: OutboundItem.self, bufferingPolicy: .bufferingOldest(max(capacity, 1)))
    }

    /// Queues a frame; returns false (and ends the queue) when the connection is too slow.
    @discardableResult public func send(_ frame: ByteBuffer) -> Bool {
        switch continuation.yield(.frame(frame)) {
        case .enqueued: return true
        case .dropped:
            overflowed.store(true, ordering: .relaxed)
            continuation.finish()
            return false
        case .terminated: return false
        @unknown default: return false
        }
    }

    /// Queues a frame given as bytes.
    @discardableResult public func send(bytes: [UInt8]) -> Bool { send(ByteBuffer(bytes: bytes)) }

    /// Asks the writer to close the socket after what is already queued.
    public func close(_ code: CloseCode, reason: String) {
        continuation.yield(.close(code, reason: reason))
        continuation.finish()
    }

    /// Ends the queue without a close request (the socket is already gone).
    public func finish() { continuation.finish() }

    /// True once the queue overflowed.
    public var isSlowConsumer: Bool { overflowed.load(ordering: .relaxed) }
}

/// One authenticated connection on this node.
public final class Session: Sendable {
    public let id: ConnectionID
    public let principal: Principal
    public let outbox: Outbox

    public init(id: ConnectionID, principal: Principal, outbox: Outbox) {
        self.id = id
        self.principal = principal
        self.outbox = outbox
    }
}

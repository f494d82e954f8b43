import ChatCore
import ChatWire
import NIOCore
import Synchronization

/// The transport side of an ``Outbox``: told when frames are waiting, it takes them
/// (``Outbox/take()``) on its own executor, writes them in order, and reports them written
/// (``Outbox/written(_:)``) once the socket has them. A WebSocket transport does all of it on the
/// socket's event loop: no task per frame, one flush per burst.
public protocol OutboundSink: Sendable {
    /// The outbox went from empty to holding frames (or ended). Called once per burst, from whichever
    /// thread queued the first frame; it must not block.
    func wake(_ outbox: Outbox)
}

/// What ``Outbox/take()`` hands the transport: the frames queued since the last take, in order.
public struct OutboundBatch: Sendable {
    public var frames: [ByteBuffer]
    /// True once the outbox was ended (finished, closed or evicted): no frame will follow.
    public var ended: Bool
    /// The close the node asked for, in the batch that holds the last frame queued before it (once):
    /// the transport writes its close frame after them.
    public var close: Outbox.CloseRequest?
}

/// A connection's bounded outbound queue. Producers (fan-out, replies) never wait: `send` queues the
/// frame and wakes the transport once per burst or, when the connection already holds `capacity`
/// frames it has not written (see ``written(_:)``), marks it a slow consumer, ends the queue and calls
/// `onOverflow` once; the transport then closes the socket with ``CloseCode/slowConsumer``, even when
/// the client stopped reading. A close request (``close(_:reason:)``) reaches the transport in the
/// batch it takes after the frames queued before it, and calls `onClose` once, so the
/// transport can drop the socket after a bounded time whatever the client does (a drain must end
/// even when a client neither reads nor answers the close frame). Frames share their bytes: a
/// ByteBuffer is copy-on-write, so one encoded event sits in memory once however many outboxes hold it.
public final class Outbox: Sendable {
    private struct State {
        var frames: [ByteBuffer] = []
        /// The sink was woken and has not taken the frames yet.
        var woken = false
        var ended = false
        /// Asked and not yet taken.
        var close: CloseRequest?
    }

    private let state = Mutex(State())
    /// Frames accepted and not yet reported written.
    private let queued = Atomic<Int>(0)
    private let overflowed = Atomic<Bool>(false)
    private let closeRequested = Atomic<Bool>(false)
    private let sink: any OutboundSink
    /// Frames the connection holds at most: queued here, or held by a transport whose socket stopped
    /// taking them.
    public let capacity: Int
    private let onOverflow: @Sendable () -> Void
    private let onClose: @Sendable () -> Void

    /// A close the node asked for: the code and the reason for the close frame.
    public struct CloseRequest: Sendable {
        public var code: CloseCode
        public var reason: String
    }

    /// - Parameters:
    ///   - sink: the transport that writes the frames.
    ///   - onOverflow: called once, from the producer that overflowed the queue; it must not block.
    ///   - onClose: called once, from the first close request; it must not block.
    public init(
        capacity: Int, sink: any OutboundSink, onOverflow: @escaping @Sendable () -> Void = {},
        onClose: @escaping @Sendable () -> Void = {}
    ) {
        self.capacity = max(capacity, 1)
        self.sink = sink
        self.onOverflow = onOverflow
        self.onClose = onClose
    }

    /// Queues a frame; returns false when the queue has ended (and ends it, as a slow consumer, when
    /// the connection already holds `capacity` frames).
    @discardableResult public func send(_ frame: ByteBuffer) -> Bool {
        if queued.wrappingAdd(1, ordering: .relaxed).newValue > capacity {
            queued.subtract(1, ordering: .relaxed)
            if !state.withLock({ $0.ended }) { evict() }
            return false
        }
        let wake = state.withLock { state -> Bool? in
            guard !state.ended else { return nil }
            state.frames.append(frame)
            defer { state.woken = true }
            return !state.woken
        }
        guard let wake else {
            queued.subtract(1, ordering: .relaxed)
            return false
        }
        if wake { sink.wake(self) }
        return true
    }

    /// Queues a frame given as bytes (with its WebSocket header in front, ``TextFrame``).
    @discardableResult public func send(bytes: [UInt8]) -> Bool { send(TextFrame.buffer(bytes)) }

    /// The frames queued since the last take, for the transport to write; they count against the
    /// capacity until it reports them ``written(_:)``.
    public func take() -> OutboundBatch {
        state.withLock { state in
            state.woken = false
            defer {
                state.frames.removeAll(keepingCapacity: state.frames.count <= 16)
                state.close = nil
            }
            return OutboundBatch(frames: state.frames, ended: state.ended, close: state.close)
        }
    }

    /// The transport wrote `count` taken frames to the socket.
    public func written(_ count: Int = 1) { queued.subtract(count, ordering: .relaxed) }

    /// Asks the transport to close the socket after what is already queued (its next
    /// ``take()`` carries the request), and (through `onClose`) to drop it if that has not happened
    /// within its close timeout.
    public func close(_ code: CloseCode, reason: String) {
        guard end(close: CloseRequest(code: code, reason: reason)) else { return }
        if !closeRequested.exchange(true, ordering: .relaxed) { onClose() }
    }

    /// Ends the queue without a close request (the socket is already gone).
    public func finish() { _ = end() }

    /// Frames queued and not yet written (approximate while producers run).
    public var backlog: Int { queued.load(ordering: .relaxed) }

    /// Waits until at most half the queue is used, so that a producer with much to send (a resume)
    /// fills it in steps instead of overflowing it. A queue that does not drain to half within
    /// `patience` marks a slow consumer all the same: it is ended as on overflow. Returns false when the queue ended.
    public func waitForRoom(patience: Duration) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: patience)
        while backlog > capacity / 2 {
            if isSlowConsumer || isEnded || Task.isCancelled { return false }
            if ContinuousClock.now >= deadline {
                evict()
                return false
            }
            do { try await Task.sleep(for: .milliseconds(5)) } catch { return false }
        }
        return !isSlowConsumer && !isEnded
    }

    /// Treats the connection as a slow consumer: ends the queue and calls `onOverflow` (once).
    public func evict() {
        _ = end()
        if !overflowed.exchange(true, ordering: .relaxed) { onOverflow() }
    }

    /// True once the queue overflowed.
    public var isSlowConsumer: Bool { overflowed.load(ordering: .relaxed) }

    /// True once the queue ended: nothing more is accepted.
    public var isEnded: Bool { state.withLock { $0.ended } }

    /// Ends the queue, with the close to write after its frames if any; true for the call that ended
    /// it. The sink is woken so that it sees the end.
    private func end(close: CloseRequest? = nil) -> Bool {
        let wake = state.withLock { state -> Bool? in
            guard !state.ended else { return nil }
            state.ended = true
            state.close = close
            defer { state.woken = true }
            return !state.woken
        }
        guard let wake else { return false }
        if wake { sink.wake(self) }
        return true
    }
}

/// One authenticated connection on this node.
public final class Session: Sendable {
    public let id: ConnectionID
    public let principal: Principal
    public let outbox: Outbox
    /// When the connection authenticated (what the admin API shows).
    public let connectedAt: Timestamp
    /// Runs each time a catch-up of this session that sent entries has met the live stream (the node
    /// schedules the user's redelivery check on it).
    let caughtUp: @Sendable () async -> Void
    /// Whether a catch-up runs for the session: at most one at a time, and none while there is nothing
    /// to catch up (no task waits beside an idle connection).
    private let catchUp = Mutex(CatchUp.idle)

    private enum CatchUp {
        case idle
        /// One runs; `again`: it was asked again since it last looked for work.
        case running(again: Bool)
        /// The session is gone.
        case ended
    }

    public init(
        id: ConnectionID, principal: Principal, outbox: Outbox, connectedAt: Timestamp, caughtUp: @escaping @Sendable () async -> Void = {}
    ) {
        self.id = id
        self.principal = principal
        self.outbox = outbox
        self.connectedAt = connectedAt
        self.caughtUp = caughtUp
    }

    /// The session may be owed entries: true if the caller is to run its catch-up; false if one runs
    /// (it will look for work again before it ends) or the session is gone.
    func claimCatchUp() -> Bool {
        catchUp.withLock { state in
            switch state {
            case .idle:
                state = .running(again: false)
                return true
            case .running:
                state = .running(again: true)
                return false
            case .ended:
                return false
            }
        }
    }

    /// The running catch-up found nothing owed: true if it is to end; false if it was asked again
    /// meanwhile (it looks again).
    func releaseCatchUp() -> Bool {
        catchUp.withLock { state in
            switch state {
            case .running(again: true):
                state = .running(again: false)
                return false
            case .running(again: false):
                state = .idle
                return true
            case .idle, .ended:
                return true
            }
        }
    }

    /// The running catch-up stopped before it was level (its connection ended, or it was cancelled):
    /// the next claim starts one again.
    func abandonCatchUp() {
        catchUp.withLock { state in
            if case .running = state { state = .idle }
        }
    }

    /// The session is gone: no catch-up starts for it again.
    func endCatchUp() { catchUp.withLock { $0 = .ended } }
}

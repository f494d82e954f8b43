import ChatCore
import NIOCore
import Synchronization

/// How many items one batch takes at most, and how many may wait (beyond: the submit fails with
/// `unavailable`, retryable). One place for the stores' group-commit defaults.
public struct BatchLimits: Sendable, Equatable {
    public var batch: Int = 64
    public var waiting: Int = 10_000
    public init() {}
}

/// Told the number of items of each batch a ``Batcher`` starts.
public typealias BatchObserver = @Sendable (_ items: Int) -> Void

/// Group commit without a timer (both stores use it): one batch runs at a time. A submitter that finds
/// no batch running leads a batch of its own item at once (no added latency at low load); items
/// submitted while a batch runs wait, and when the batch ends its leader passes the turn to the first
/// waiter, which leads a batch of up to `maxBatch` of the waiting items, and only then hands each of
/// its own items' submitters their results (so the next batch is on its way while they resume). So
/// batches grow with the load by themselves, and a send waits at most for one batch before its own.
///
/// Guarantees: every submitter resumes exactly once, with its own item's result; items are taken into
/// batches in arrival order, those of one batch run in one call of `run`, which returns one result per
/// item in order (a missing one reads as an internal error); at most `maxWaiting` items wait (beyond:
/// `unavailable` at once, nothing run); an item that waits `maxWait` without being taken into a batch
/// leaves the queue with `unavailable` and is never run (so a send waits at most `maxWait` for its
/// turn, then its batch's own deadline); items run in the order they took their places in line (each
/// submitter is told, `placed`, before its item runs), in one batch or in batches one after the other.
/// No task of its own: batches run on the submitters' tasks. The waiting deadlines cost one timer for
/// the whole line, not one per item: the line is in arrival order, so its head is the oldest waiter,
/// and a single sweep (a timer of the injected `schedule`, read against the injected `clock`) lets the
/// expired heads go and re-arms for the next head's deadline; a submit does O(1) work however long the
/// line. (A timer per waiter, found again by a scan of the line to record its cancel, made each submit
/// O(line) exactly when the line was long: a third of the storing node's CPU at 51,000 deliveries/s.)
public final class Batcher<Item: Sendable, Output: Sendable>: Sendable {
    /// Runs one batch: one result per item, in order.
    public typealias Run = @Sendable ([Item]) async -> [Result<Output, any Error>]

    // Internal but inlinable: its users compile `Batcher` for their own item types (specialised), where
    // code generic across the module boundary looked its types up at run time on every batch
    // (bench/RESULTS.md, issue 16's twenty-fourth step).
    @usableFromInline enum Turn: Sendable {
        case lead
        case done(Result<Output, any Error>)
    }

    @usableFromInline enum Decision { case lead, wait, full }

    @usableFromInline struct Waiter: Sendable {
        @usableFromInline var item: Item
        @usableFromInline var continuation: CheckedContinuation<Turn, Never>
        /// When it leaves the line with `unavailable` if no batch has taken it.
        @usableFromInline var deadline: Timestamp

        @inlinable init(item: Item, continuation: CheckedContinuation<Turn, Never>, deadline: Timestamp) {
            self.item = item
            self.continuation = continuation
            self.deadline = deadline
        }
    }

    @usableFromInline struct State: Sendable {
        /// Whether a batch runs now.
        @usableFromInline var running: Bool
        /// What waits for a batch, in arrival order (so deadlines ascend).
        @usableFromInline var queue: CircularBuffer<Waiter>
        /// Whether the sweep's timer is armed (it re-arms itself while the line is not empty).
        @usableFromInline var sweeping: Bool

        @inlinable init() {
            running = false
            queue = CircularBuffer()
            sweeping = false
        }
    }

    public let maxBatch: Int
    public let maxWaiting: Int
    public let maxWait: Duration
    @usableFromInline let run: Run
    @usableFromInline let observe: BatchObserver
    @usableFromInline let schedule: Schedule
    @usableFromInline let clock: any WallClock
    @usableFromInline let state = Mutex(State())

    public init(
        maxBatch: Int, maxWaiting: Int, maxWait: Duration, schedule: @escaping Schedule, clock: any WallClock = SystemWallClock(),
        observe: @escaping BatchObserver = { _ in }, run: @escaping Run
    ) {
        self.maxBatch = max(1, maxBatch)
        self.maxWaiting = max(0, maxWaiting)
        self.maxWait = maxWait
        self.schedule = schedule
        self.clock = clock
        self.observe = observe
        self.run = run
    }

    /// Items waiting for a batch now.
    @inlinable public var waitingCount: Int { state.withLock { $0.queue.count } }

    /// Whether a batch runs now.
    @inlinable public var isRunning: Bool { state.withLock { $0.running } }

    /// Runs `item` in a batch and returns its result. `placed` is called once, in the calling task, as
    /// soon as the item has its place in line (it leads a batch, waits, or was refused at once).
    @inlinable public func submit(_ item: Item, placed: @Sendable () -> Void = {}) async throws -> Output {
        let turn: Turn = await withCheckedContinuation { continuation in
            let (decision, arm) = state.withLock { state -> (Decision, Bool) in
                guard state.running else {
                    state.running = true
                    return (.lead, false)
                }
                guard state.queue.count < maxWaiting else { return (.full, false) }
                state.queue.append(Waiter(item: item, continuation: continuation, deadline: clock.now().advanced(by: maxWait)))
                defer { state.sweeping = true }
                return (.wait, !state.sweeping)
            }
            placed()
            switch decision {
            case .lead: continuation.resume(returning: .lead)
            case .full: continuation.resume(returning: .done(.failure(ChatError.unavailable("too many sends are waiting for the store; retry"))))
            case .wait: if arm { sweep(after: maxWait) }
            }
        }
        switch turn {
        case .done(let result): return try result.get()
        case .lead: return try await lead(item).get()
        }
    }

    /// Arms the line's one timer: then the waiters past their deadline leave with `unavailable`, and
    /// it re-arms for the next head while the line is not empty.
    @inlinable func sweep(after delay: Duration) {
        _ = schedule(delay) { [self] in
            let now = clock.now()
            let (expired, next) = state.withLock { state -> ([Waiter], Duration?) in
                var expired: [Waiter] = []
                while let head = state.queue.first, head.deadline <= now { expired.append(state.queue.removeFirst()) }
                guard let head = state.queue.first else {
                    state.sweeping = false
                    return (expired, nil)
                }
                return (expired, .milliseconds(head.deadline.milliseconds - now.milliseconds))
            }
            for waiter in expired {
                waiter.continuation.resume(returning: .done(.failure(ChatError.unavailable("the store did not take the send in time; retry"))))
            }
            if let next { sweep(after: next) }
        }
    }

    /// Runs a batch of `own` and the first waiters, answers them, and passes the turn on.
    @inlinable func lead(_ own: Item) async -> Result<Output, any Error> {
        let others = state.withLock { state -> [Waiter] in
            var taken: [Waiter] = []
            while taken.count < maxBatch - 1, let next = state.queue.popFirst() { taken.append(next) }
            return taken
        }
        observe(others.count + 1)
        var results = await run([own] + others.map { $0.item })
        while results.count < others.count + 1 { results.append(.failure(ChatError.internal("the batch returned too few results"))) }
        // The turn first: the next batch starts while this one's submitters are being resumed.
        let next = state.withLock { state -> Waiter? in
            guard let next = state.queue.popFirst() else {
                state.running = false
                return nil
            }
            return next
        }
        next?.continuation.resume(returning: .lead)
        for (offset, waiter) in others.enumerated() { waiter.continuation.resume(returning: .done(results[offset + 1])) }
        return results[0]
    }
}

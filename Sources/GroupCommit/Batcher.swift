import ChatCore
import NIOCore
import Synchronization

/// How many items one batch takes at most, and how many may wait over all keys (beyond: the submit
/// fails with `unavailable`, retryable). One place for the stores' group-commit defaults.
public struct BatchLimits: Sendable, Equatable {
    public var batch: Int = 64
    public var waiting: Int = 10_000
    public init() {}
}

/// Group commit per key, without a timer (both stores use it: PostgreSQL keyed by conversation, the
/// SQLite writer with one key for all): at most one batch per key runs at a time. A submitter that
/// finds its key idle leads a batch of its own item at once (no added latency at low load); items
/// submitted meanwhile under that key wait, and when the batch ends its leader hands each of its
/// waiters its result and passes the key to the first waiter, which leads a batch of up to `maxBatch`
/// of the waiting items. For appends the key is the conversation: a conversation's appends serialise
/// on its row lock anyway, so waiting in the node instead costs nothing, and those that waited share
/// one transaction; different conversations never share one (a batch never holds one conversation's
/// lock while it works on another's).
///
/// Guarantees: every submitter resumes exactly once, with its own item's result; a key's items run in
/// arrival order, those of one batch in one call of `run`, which returns one result per item in order
/// (a missing one reads as an internal error); at most `maxWaiting` items wait over all keys (beyond:
/// `unavailable` at once, nothing run); an item that waits `maxWait` without being taken into a batch
/// leaves the queue with `unavailable` and is never run (so a send waits at most `maxWait` for its
/// turn, then its batch's own deadline); a key with nothing running or waiting holds no memory. No
/// task of its own: batches run on the submitters' tasks, and the waiting deadlines are timers of the
/// injected `schedule`.
public final class Batcher<Key: Hashable & Sendable, Item: Sendable, Output: Sendable>: Sendable {
    /// Runs one batch: one result per item, in order.
    public typealias Run = @Sendable ([Item]) async -> [Result<Output, any Error>]

    private enum Turn: Sendable {
        case lead
        case done(Result<Output, any Error>)
    }

    private enum Decision { case lead, wait, full }

    private struct Waiter: Sendable {
        var id: UInt64
        var item: Item
        var continuation: CheckedContinuation<Turn, Never>
        var cancelTimer: @Sendable () -> Void = {}
    }

    private struct State: Sendable {
        /// Keys with a batch running, and what waits under each.
        var running: [Key: CircularBuffer<Waiter>] = [:]
        var waiting = 0
        var nextID: UInt64 = 0
    }

    public let maxBatch: Int
    public let maxWaiting: Int
    public let maxWait: Duration
    private let run: Run
    private let schedule: Schedule
    private let state = Mutex(State())

    public init(maxBatch: Int, maxWaiting: Int, maxWait: Duration, schedule: @escaping Schedule, run: @escaping Run) {
        self.maxBatch = max(1, maxBatch)
        self.maxWaiting = max(0, maxWaiting)
        self.maxWait = maxWait
        self.schedule = schedule
        self.run = run
    }

    /// Items waiting for a batch now, over all keys.
    public var waitingCount: Int { state.withLock { $0.waiting } }

    /// Keys with a batch running now.
    public var runningKeys: Int { state.withLock { $0.running.count } }

    /// Runs `item` in a batch of `key` and returns its result.
    public func submit(_ item: Item, key: Key) async throws -> Output {
        let turn: Turn = await withCheckedContinuation { continuation in
            let (decision, id) = state.withLock { state -> (Decision, UInt64) in
                guard state.running[key] != nil else {
                    state.running[key] = CircularBuffer()
                    return (.lead, 0)
                }
                guard state.waiting < maxWaiting else { return (.full, 0) }
                state.nextID &+= 1
                state.running[key]!.append(Waiter(id: state.nextID, item: item, continuation: continuation))
                state.waiting += 1
                return (.wait, state.nextID)
            }
            switch decision {
            case .lead: continuation.resume(returning: .lead)
            case .full: continuation.resume(returning: .done(.failure(ChatError.unavailable("too many sends are waiting for the store; retry"))))
            case .wait: arm(id, key: key)
            }
        }
        switch turn {
        case .done(let result): return try result.get()
        case .lead: return try await lead(item, key: key).get()
        }
    }

    /// Starts waiter `id`'s deadline: if it is still waiting then, it leaves with `unavailable`.
    private func arm(_ id: UInt64, key: Key) {
        let cancel = schedule(maxWait) { [self] in
            let expired = state.withLock { state -> Waiter? in
                guard let index = state.running[key]?.firstIndex(where: { $0.id == id }) else { return nil }
                state.waiting -= 1
                return state.running[key]!.remove(at: index)
            }
            expired?.continuation.resume(returning: .done(.failure(ChatError.unavailable("the store did not take the send in time; retry"))))
        }
        let late = state.withLock { state -> Bool in
            guard let index = state.running[key]?.firstIndex(where: { $0.id == id }) else { return true }
            state.running[key]![index].cancelTimer = cancel
            return false
        }
        if late { cancel() }  // taken into a batch already: its timer is not needed
    }

    /// Runs a batch of `own` and the first waiters of `key`, answers them, and passes the key on.
    private func lead(_ own: Item, key: Key) async -> Result<Output, any Error> {
        let others = state.withLock { state -> [Waiter] in
            var taken: [Waiter] = []
            while taken.count < maxBatch - 1, let next = state.running[key]?.popFirst() { taken.append(next) }
            state.waiting -= taken.count
            return taken
        }
        for waiter in others { waiter.cancelTimer() }
        var results = await run([own] + others.map(\.item))
        while results.count < others.count + 1 { results.append(.failure(ChatError.internal("the batch returned too few results"))) }
        for (offset, waiter) in others.enumerated() { waiter.continuation.resume(returning: .done(results[offset + 1])) }
        let next = state.withLock { state -> Waiter? in
            guard let next = state.running[key]?.popFirst() else {
                state.running[key] = nil
                return nil
            }
            state.waiting -= 1
            return next
        }
        next?.cancelTimer()
        next?.continuation.resume(returning: .lead)
        return results[0]
    }
}

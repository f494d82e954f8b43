import ChatCore
import ChatTesting
import Synchronization
import Testing

import GroupCommit

/// The batcher alone (no database): alone at low load, together under load, in arrival order, each
/// caller with its own result, one batch at a time in line order, and bounded.
@Suite struct BatcherTests {
    /// A run that records each batch and holds it until released, so a test can pile up waiters.
    final class HeldRuns: Sendable {
        private let state = Mutex<(batches: [[Int]], held: [CheckedContinuation<Void, Never>], holding: Bool)>(([], [], false))

        func hold(_ on: Bool) { state.withLock { $0.holding = on } }
        var batches: [[Int]] { state.withLock { $0.batches } }
        var heldCount: Int { state.withLock { $0.held.count } }

        func run(_ items: [Int]) async -> [Result<Int, any Error>] {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    state.batches.append(items)
                    guard state.holding else { return true }
                    state.held.append(continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
            return items.map { $0 < 0 ? .failure(ChatError.notFound("negative")) : .success($0 * 10) }
        }

        func releaseAll() {
            let held = state.withLock { state in
                defer { state.held.removeAll() }
                return state.held
            }
            for continuation in held { continuation.resume() }
        }
    }

    /// Timers the test fires by hand.
    final class Timers: Sendable {
        private let armed = Mutex<[(id: Int, fire: @Sendable () -> Void, cancelled: Bool)]>([])

        func schedule(_ delay: Duration, _ body: @escaping @Sendable () -> Void) -> @Sendable () -> Void {
            let id = armed.withLock { armed in
                armed.append((armed.count, body, false))
                return armed.count - 1
            }
            return { [self] in armed.withLock { $0[id].cancelled = true } }
        }

        var live: Int { armed.withLock { $0.filter { !$0.cancelled }.count } }
        /// Timers armed so far.
        var scheduled: Int { armed.withLock { $0.count } }

        /// Fires every timer not cancelled.
        func fireAll() {
            let due = armed.withLock { armed in
                defer { for index in armed.indices { armed[index].cancelled = true } }
                return armed.filter { !$0.cancelled }.map(\.fire)
            }
            for fire in due { fire() }
        }
    }

    func batcher(maxBatch: Int, maxWaiting: Int, runs: HeldRuns, timers: Timers = Timers(), clock: ManualClock = ManualClock())
        -> Batcher<Int, Int>
    {
        Batcher(maxBatch: maxBatch, maxWaiting: maxWaiting, maxWait: .seconds(5), schedule: { timers.schedule($0, $1) }, clock: clock) {
            await runs.run($0)
        }
    }

    /// Waits (without a timer) until `condition` holds.
    func until(_ condition: () -> Bool) async {
        while !condition() { await Task.yield() }
    }

    @Test func aloneAtLowLoad() async throws {
        let runs = HeldRuns()
        let batcher = batcher(maxBatch: 8, maxWaiting: 100, runs: runs)
        for item in 1...3 { #expect(try await batcher.submit(item) == item * 10) }
        #expect(runs.batches == [[1], [2], [3]])
    }

    @Test func whatArrivesWhileABatchRunsGoesTogetherInOrderEachWithItsOwnResult() async throws {
        let runs = HeldRuns()
        let batcher = batcher(maxBatch: 3, maxWaiting: 100, runs: runs)
        runs.hold(true)
        enum Answer: Equatable, Sendable {
            case value(Int)
            case code(ChatError.Code)
        }
        try await withThrowingTaskGroup(of: (Int, Answer).self) { group in
            group.addTask { (1, .value(try await batcher.submit(1))) }
            await until { runs.heldCount == 1 }
            for item in [2, -3, 4, 5] {
                group.addTask {
                    do { return (item, .value(try await batcher.submit(item))) } catch { return (item, .code((error as! ChatError).code)) }
                }
                await until { batcher.waitingCount == (item == 2 ? 1 : abs(item) - 1) }
            }
            runs.hold(false)
            runs.releaseAll()
            var answers: [Int: Answer] = [:]
            for try await (item, answer) in group { answers[item] = answer }
            #expect(answers[1] == .value(10) && answers[2] == .value(20) && answers[4] == .value(40) && answers[5] == .value(50))
            #expect(answers[-3] == .code(.notFound), "one item's failure is its own")
        }
        #expect(runs.batches == [[1], [2, -3, 4], [5]], "the waiters, in arrival order, at most maxBatch a batch")
        #expect(batcher.waitingCount == 0 && !batcher.isRunning, "an idle batcher holds nothing")
    }

    @Test func beyondMaxWaitingASubmitFailsAtOnce() async throws {
        let runs = HeldRuns()
        let batcher = batcher(maxBatch: 8, maxWaiting: 1, runs: runs)
        runs.hold(true)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await batcher.submit(1) }
            await until { runs.heldCount == 1 }
            group.addTask { _ = try await batcher.submit(2) }
            await until { batcher.waitingCount == 1 }
            await #expect(throws: ChatError.self) { try await batcher.submit(3) }
            runs.hold(false)
            runs.releaseAll()
            try await group.waitForAll()
        }
        #expect(runs.batches == [[1], [2]], "the refused item never ran")
    }

    /// A caller that goes on as soon as its item has its place (`placed`), as a connection
    /// pipelining its sends does: the items run in the order placed, though their submitters still wait.
    @Test func itemsRunInTheOrderTheyTookTheirPlaces() async throws {
        let runs = HeldRuns()
        let batcher = batcher(maxBatch: 3, maxWaiting: 100, runs: runs)
        runs.hold(true)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for item in 1...7 {
                let placed = Recorder<Int>()
                group.addTask {
                    try await batcher.submit(item, placed: { placed.record(item) })
                }
                await until { placed.count == 1 }
            }
            #expect(runs.heldCount == 1 && batcher.waitingCount == 6, "every item placed before any batch ended")
            runs.hold(false)
            runs.releaseAll()
            var sum = 0
            for try await value in group { sum += value }
            #expect(sum == 280)
        }
        #expect(runs.batches == [[1], [2, 3, 4], [5, 6, 7]], "in the order placed")
        #expect(!batcher.isRunning)
    }

    @Test func aWaiterNotTakenInTimeLeavesWithUnavailableAndNeverRuns() async throws {
        let runs = HeldRuns(), timers = Timers(), clock = ManualClock()
        let batcher = batcher(maxBatch: 8, maxWaiting: 100, runs: runs, timers: timers, clock: clock)
        runs.hold(true)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await batcher.submit(1) }
            await until { runs.heldCount == 1 }
            group.addTask {
                await #expect(throws: ChatError.unavailable("the store did not take the send in time; retry")) {
                    try await batcher.submit(2)
                }
            }
            await until { batcher.waitingCount == 1 && timers.live == 1 }
            clock.advance(by: .seconds(5))
            timers.fireAll()
            await until { batcher.waitingCount == 0 }
            runs.hold(false)
            runs.releaseAll()
            try await group.waitForAll()
        }
        #expect(runs.batches == [[1]], "the expired item never ran")
        #expect(!batcher.isRunning)
    }

    /// However long the line, one timer watches it: the sweep lets only the waiters past their
    /// deadline go (the oldest, at the head) and re-arms for the next; the rest run in their batch.
    @Test func oneTimerForTheWholeLineAndOnlyTheExpiredLeave() async throws {
        let runs = HeldRuns(), timers = Timers(), clock = ManualClock()
        let batcher = batcher(maxBatch: 100, maxWaiting: 100, runs: runs, timers: timers, clock: clock)
        runs.hold(true)
        let refused = Recorder<Int>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await batcher.submit(0) }
            await until { runs.heldCount == 1 }
            func submit(_ item: Int) {
                group.addTask {
                    do { _ = try await batcher.submit(item) } catch { refused.record(item) }
                }
            }
            for item in 1...3 { submit(item) }
            await until { batcher.waitingCount == 3 }
            clock.advance(by: .seconds(3))
            for item in 4...50 { submit(item) }
            await until { batcher.waitingCount == 50 }
            #expect(timers.scheduled == 1, "one timer for 50 waiters")
            clock.advance(by: .seconds(2))
            timers.fireAll()
            await until { batcher.waitingCount == 47 }
            #expect(timers.live == 1, "re-armed for the next head")
            runs.hold(false)
            runs.releaseAll()
            try await group.waitForAll()
        }
        #expect(Set(refused.all) == [1, 2, 3], "the three past their deadline, and only they, left")
        #expect(runs.batches.count == 2 && runs.batches[1].sorted() == Array(4...50), "the rest ran, in one batch")
    }
}

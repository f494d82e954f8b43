import ChatCore
import ChatNode
import ChatTesting
import EmbeddedEngine
import Logging
import Synchronization
import Testing

/// The job runner on the embedded queue and a test clock: success completes, failure retries with
/// backoff, the last failure and an unknown kind dead-letter.
@Suite struct JobRunnerTests {
    struct Flaky: Error {}

    /// The runner's timer, for tests that drive it by `step()` or `wake()`: it never fires.
    static let noTimer: Schedule = { _, _ in {} }

    static func settings(_ policy: RetryPolicy, concurrency: Int = 4) -> JobRunner.Settings {
        var settings = JobRunner.Settings()
        settings.defaultPolicy = policy
        settings.concurrency = concurrency
        return settings
    }

    @Test func failuresRetryWithBackoffAndTheLastOneDeadLetters() async throws {
        let clock = ManualClock()
        let queue = MemoryJobQueue(clock: clock)
        let attempts = Recorder<Int>()
        let runner = JobRunner(
            queue: queue,
            handlers: [
                "flaky": { job in
                    attempts.record(job.attempt)
                    if job.attempt == 0 { throw Flaky() }
                },
                "broken": { _ in throw Flaky() },
            ],
            clock: clock, settings: Self.settings(RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(1), maxAttempts: 2)), worker: "w",
            schedule: Self.noTimer, logger: Logger(label: "test"))
        try await queue.enqueue(Job(id: "f", kind: "flaky", payload: []), due: clock.now())
        try await queue.enqueue(Job(id: "b", kind: "broken", payload: []), due: clock.now())
        try await queue.enqueue(Job(id: "u", kind: "unknown", payload: []), due: clock.now())
        while await runner.step() {}
        clock.advance(by: .seconds(2))
        while await runner.step() {}
        #expect(attempts.all == [0, 1], "the flaky job ran again after its backoff and then succeeded")
        #expect(Set(await queue.deadLetters(limit: 10).map(\.id)) == ["b", "u"])
        #expect(await runner.step() == false, "nothing is left")
    }

    /// The runner's timer as a test drives it: records each wait it asks for and fires the last on demand.
    final class TestTimer: Sendable {
        private let state = Mutex<(waits: [Duration], pending: (@Sendable () -> Void)?)>(([], nil))
        var schedule: Schedule {
            { delay, body in
                self.state.withLock { $0 = ($0.waits + [delay], body) }
                return { self.state.withLock { $0.pending = nil } }
            }
        }
        var waits: [Duration] { state.withLock { $0.waits } }
        func fire() { state.withLock { $0.pending }?() }
    }

    @Test func runsSeveralJobsAtOnceWakesForNewOnesAndWaitsForTheNextDueTime() async throws {
        let clock = ManualClock()
        let timer = TestTimer()
        let started = Recorder<String>()
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let queue = MemoryJobQueue(clock: clock)
        var settings = Self.settings(RetryPolicy(), concurrency: 3)
        settings.maxIdle = .seconds(60)
        let runner = JobRunner(
            queue: queue,
            handlers: [
                "slow": { job in
                    started.record(job.id)
                    for await _ in gate { return }
                },
                "quick": { job in started.record(job.id) },
            ],
            clock: clock, settings: settings, worker: "w", schedule: timer.schedule, logger: Logger(label: "test"))
        let scheduling = MeteredJobQueue(queue, metrics: .discarding(), scheduled: { runner.wake() })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await runner.run() }
            try await eventually("the idle runner waits at most maxIdle") { timer.waits.last == .seconds(60) }
            for id in ["s1", "s2", "s3", "s4"] { try await scheduling.enqueue(Job(id: id, kind: "slow", payload: []), due: clock.now()) }
            try await eventually("three slow jobs run at once") { started.all.count == 3 }
            #expect(await queue.stats().pending["slow"] == 4, "the fourth waits: three are in hand")
            open.yield()
            open.yield()
            open.yield()
            try await eventually("the fourth runs as one ends") { started.all.count == 4 }
            open.finish()
            try await eventually("all four done") { await queue.stats().pending.isEmpty }
            try await scheduling.enqueue(Job(id: "later", kind: "quick", payload: []), due: clock.now().advanced(by: .seconds(5)))
            try await eventually("it waits for the job's due time, not for maxIdle") { timer.waits.last == .seconds(5) }
            #expect(!started.all.contains("later"))
            clock.advance(by: .seconds(5))
            timer.fire()
            try await eventually("the due job runs when its timer fires") { started.all.contains("later") }
            group.cancelAll()
        }
    }

    @Test func eachKindRetriesWithItsOwnPolicy() async throws {
        let clock = ManualClock()
        let queue = MemoryJobQueue(clock: clock)
        var settings = Self.settings(RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(1), maxAttempts: 3))
        settings.policies["fragile"] = RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(1), maxAttempts: 1)
        let runner = JobRunner(
            queue: queue, handlers: ["fragile": { _ in throw Flaky() }, "sturdy": { _ in throw Flaky() }], clock: clock, settings: settings,
            worker: "w", schedule: Self.noTimer, logger: Logger(label: "test"))
        try await queue.enqueue(Job(id: "f", kind: "fragile", payload: []), due: clock.now())
        try await queue.enqueue(Job(id: "s", kind: "sturdy", payload: []), due: clock.now())
        while await runner.step() {}
        #expect(await queue.deadLetters(limit: 10).map(\.id) == ["f"], "one attempt, then the dead letters")
        #expect(await queue.stats().pending == ["sturdy": 1], "the default policy retries")
    }
}

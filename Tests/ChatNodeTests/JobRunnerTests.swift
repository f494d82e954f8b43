import ChatCore
import ChatNode
import ChatTesting
import EmbeddedEngine
import Logging
import Testing

/// The job runner on the embedded queue and a test clock: success completes, failure retries with
/// backoff, the last failure and an unknown kind dead-letter.
@Suite struct JobRunnerTests {
    struct Flaky: Error {}

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
            clock: clock, policy: RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(1), maxAttempts: 2), worker: "w",
            logger: Logger(label: "test"))
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
}

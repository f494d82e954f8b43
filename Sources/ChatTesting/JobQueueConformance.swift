import ChatCore

/// A fresh job queue and a way to move its time forward by at least a duration, plus its clock.
public struct JobQueueHarness: ConformanceHarness {
    public let queue: any JobQueue
    public let now: @Sendable () -> Timestamp
    public let advance: @Sendable (Duration) async throws -> Void
    public let teardown: @Sendable () async -> Void
    public init(
        queue: any JobQueue, now: @escaping @Sendable () -> Timestamp, advance: @escaping @Sendable (Duration) async throws -> Void,
        teardown: @escaping @Sendable () async -> Void
    ) {
        self.queue = queue
        self.now = now
        self.advance = advance
        self.teardown = teardown
    }
}

public typealias JobQueueFactory = @Sendable () async throws -> JobQueueHarness

/// The ``JobQueue`` contract as checks.
public enum JobQueueConformance {
    public static let checks: [ConformanceCheck<JobQueueFactory>] = [
        .init("jobs are claimed when due, oldest first, and completed once", dueOrderAndComplete),
        .init("an expired claim is taken over and the stale claim is refused", visibilityTimeout),
        .init("retry delays a job and counts the attempt", retryCountsAttempts),
        .init("buried jobs go to the dead letters", deadLetters),
        .init("enqueueing the same id twice keeps one job", idempotentEnqueue),
        .init("workers claiming at once never share a job", concurrentClaims),
    ]

    static func job(_ id: String) -> Job { Job(id: id, kind: "redeliver", payload: Array(id.utf8)) }

    static func with(_ factory: JobQueueFactory, _ body: (JobQueueHarness) async throws -> Void) async throws {
        try await using(try await factory()) { try await body($0) }
    }

    static func dueOrderAndComplete(_ factory: JobQueueFactory) async throws {
        try await with(factory) { harness in
            let queue = harness.queue
            let now = harness.now()
            try await queue.enqueue(job("late"), due: now.advanced(by: .seconds(5)))
            try await queue.enqueue(job("second"), due: now.advanced(by: .milliseconds(-10)))
            try await queue.enqueue(job("first"), due: now.advanced(by: .milliseconds(-20)))
            let a = try await queue.claim(worker: "w1", visibility: .seconds(30)).unwrap("a due job")
            let b = try await queue.claim(worker: "w1", visibility: .seconds(30)).unwrap("another due job")
            try checkEqual([a.job.id, b.job.id], ["first", "second"])
            try checkEqual(a.job.payload, Array("first".utf8))
            try checkEqual(a.job.attempt, 0)
            try await checkAsync(try await queue.claim(worker: "w1", visibility: .seconds(30)) == nil, "the late job is not due")
            try await checkAsync(try await queue.complete(a), "complete")
            try await checkAsync(try await !queue.complete(a), "completing twice is refused")
            try await harness.advance(.seconds(6))
            try checkEqual(try await queue.claim(worker: "w2", visibility: .seconds(30))?.job.id, "late")
        }
    }

    static func visibilityTimeout(_ factory: JobQueueFactory) async throws {
        try await with(factory) { harness in
            let queue = harness.queue
            try await queue.enqueue(job("j"), due: harness.now())
            let first = try await queue.claim(worker: "crashed", visibility: .seconds(1)).unwrap("claim")
            try await checkAsync(try await queue.claim(worker: "other", visibility: .seconds(1)) == nil, "held while claimed")
            try await harness.advance(.milliseconds(1100))
            let second = try await queue.claim(worker: "other", visibility: .seconds(30)).unwrap("taken over")
            try checkEqual(second.job.id, "j")
            try checkEqual(second.job.attempt, 1, "a takeover counts as an attempt")
            try await checkAsync(try await !queue.complete(first), "the stale claim is refused")
            try await checkAsync(try await queue.complete(second), "the new holder completes")
        }
    }

    static func retryCountsAttempts(_ factory: JobQueueFactory) async throws {
        try await with(factory) { harness in
            let queue = harness.queue
            try await queue.enqueue(job("r"), due: harness.now())
            let claim = try await queue.claim(worker: "w", visibility: .seconds(30)).unwrap("claim")
            try await checkAsync(try await queue.retry(claim, at: harness.now().advanced(by: .seconds(2))), "retry")
            try await checkAsync(try await queue.claim(worker: "w", visibility: .seconds(30)) == nil, "not due yet")
            try await harness.advance(.milliseconds(2100))
            let again = try await queue.claim(worker: "w", visibility: .seconds(30)).unwrap("due again")
            try checkEqual(again.job.attempt, 1)
        }
    }

    static func deadLetters(_ factory: JobQueueFactory) async throws {
        try await with(factory) { harness in
            let queue = harness.queue
            try await queue.enqueue(job("d"), due: harness.now())
            let claim = try await queue.claim(worker: "w", visibility: .seconds(30)).unwrap("claim")
            try await checkAsync(try await queue.bury(claim, reason: "gave up"), "bury")
            try checkEqual(try await queue.deadLetters(limit: 10), [claim.job], "kind, payload and attempt kept")
            try await checkAsync(try await queue.claim(worker: "w", visibility: .seconds(30)) == nil, "a buried job is not claimable")
        }
    }

    static func idempotentEnqueue(_ factory: JobQueueFactory) async throws {
        try await with(factory) { harness in
            let queue = harness.queue
            try await queue.enqueue(job("same"), due: harness.now())
            try await queue.enqueue(job("same"), due: harness.now())
            _ = try await queue.claim(worker: "w", visibility: .seconds(30)).unwrap("one job")
            try await checkAsync(try await queue.claim(worker: "w", visibility: .seconds(30)) == nil, "only one")
        }
    }

    static func concurrentClaims(_ factory: JobQueueFactory) async throws {
        try await with(factory) { harness in
            let queue = harness.queue
            let ids = (0..<30).map { "job-\($0)" }
            for id in ids { try await queue.enqueue(job(id), due: harness.now()) }
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        var mine: [String] = []
                        while let claim = try await queue.claim(worker: "w\(worker)", visibility: .seconds(30)) {
                            mine.append(claim.job.id)
                            try await checkAsync(try await queue.complete(claim), "the holder completes")
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            try checkEqual(claimed.sorted(), ids.sorted(), "every job claimed once, by one worker")
        }
    }
}

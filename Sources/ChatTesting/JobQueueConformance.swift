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
        .init("replace puts the new job in place of a pending or claimed one", replacement),
        .init("a dead letter is put back or dropped by id", deadLetterRequeueAndDrop),
        .init("stats count jobs by kind, the earliest due and the dead letters", stats),
        .init("retries follow the policy's backoff schedule, then the job is dead-lettered", backoffSchedule),
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

    static func replacement(_ factory: JobQueueFactory) async throws {
        try await with(factory) { harness in
            let queue = harness.queue
            let now = harness.now()
            try await queue.enqueue(Job(id: "u", kind: "redeliver", payload: [1]), due: now.advanced(by: .seconds(60)))
            try await queue.replace(Job(id: "u", kind: "redeliver", payload: [2], attempt: 5), due: now)
            let claim = try await queue.claim(worker: "w", visibility: .seconds(30)).unwrap("the replacement is due now")
            try checkEqual(claim.job.payload, [2], "the new payload")
            try checkEqual(claim.job.attempt, 0, "a replacement starts over")
            try await checkAsync(try await queue.claim(worker: "w", visibility: .seconds(30)) == nil, "one job, not two")
            // Replacing a claimed job takes it from its holder.
            try await queue.replace(Job(id: "u", kind: "redeliver", payload: [3]), due: now)
            try await checkAsync(try await !queue.complete(claim), "the old holder's claim is stale")
            let next = try await queue.claim(worker: "w2", visibility: .seconds(30)).unwrap("the replacement runs")
            try checkEqual(next.job.payload, [3])
            try await checkAsync(try await queue.complete(next), "and completes")
            try await queue.replace(Job(id: "fresh", kind: "redeliver", payload: [4]), due: now)
            try checkEqual(try await queue.claim(worker: "w", visibility: .seconds(30))?.job.id, "fresh", "replace of nothing enqueues")
        }
    }

    static func deadLetterRequeueAndDrop(_ factory: JobQueueFactory) async throws {
        try await with(factory) { harness in
            let queue = harness.queue
            for id in ["keep", "drop"] {
                try await queue.enqueue(job(id), due: harness.now())
                let claim = try await queue.claim(worker: "w", visibility: .seconds(30)).unwrap("claim \(id)")
                try await queue.retry(claim, at: harness.now())
                let again = try await queue.claim(worker: "w", visibility: .seconds(30)).unwrap("claim \(id) again")
                try await queue.bury(again, reason: "gave up")
            }
            try checkEqual(try await queue.deadLetters(limit: 10).map(\.id), ["keep", "drop"])
            try await checkAsync(try await queue.dropDeadLetter("drop"), "drop")
            try await checkAsync(try await !queue.dropDeadLetter("drop"), "dropped once")
            try await checkAsync(try await !queue.requeueDeadLetter("nothing", due: harness.now()), "no such dead letter")
            try await checkAsync(try await queue.requeueDeadLetter("keep", due: harness.now()), "put back")
            try checkEqual(try await queue.deadLetters(limit: 10), [], "no dead letter left")
            let claim = try await queue.claim(worker: "w", visibility: .seconds(30)).unwrap("the dead letter runs again")
            try checkEqual(claim.job.id, "keep")
            try checkEqual(claim.job.payload, Array("keep".utf8), "with its payload")
            try checkEqual(claim.job.attempt, 0, "from the first attempt")
        }
    }

    static func stats(_ factory: JobQueueFactory) async throws {
        try await with(factory) { harness in
            let queue = harness.queue
            let now = harness.now()
            try checkEqual(try await queue.stats(), JobQueueStats(pending: [:], earliestDue: nil, deadLetters: 0), "empty")
            try await queue.enqueue(Job(id: "a", kind: "notify", payload: []), due: now.advanced(by: .seconds(5)))
            try await queue.enqueue(Job(id: "b", kind: "notify", payload: []), due: now.advanced(by: .seconds(9)))
            try await queue.enqueue(Job(id: "c", kind: "redeliver", payload: []), due: now.advanced(by: .seconds(-1)))
            let stats = try await queue.stats()
            try checkEqual(stats.pending, ["notify": 2, "redeliver": 1])
            try checkEqual(stats.earliestDue, now.advanced(by: .seconds(-1)))
            let claim = try await queue.claim(worker: "w", visibility: .seconds(30)).unwrap("c")
            try checkEqual(try await queue.stats().earliestDue, now.advanced(by: .seconds(5)), "a claimed job is not waiting")
            try await queue.bury(claim, reason: "test")
            let after = try await queue.stats()
            try checkEqual(after.pending, ["notify": 2], "a buried job is not pending")
            try checkEqual(after.deadLetters, 1)
        }
    }

    static func backoffSchedule(_ factory: JobQueueFactory) async throws {
        try await with(factory) { harness in
            let queue = harness.queue
            let policy = RetryPolicy(base: .seconds(1), factor: 2, cap: .seconds(5), maxAttempts: 5)
            try await queue.enqueue(job("b"), due: harness.now())
            var expected: [Duration] = []
            // The worst case of full jitter (unit 1): 1 s, 2 s, 4 s, then the cap.
            while true {
                let claim = try await queue.claim(worker: "w", visibility: .seconds(60)).unwrap("due after its delay")
                guard let delay = policy.delay(afterAttempt: claim.job.attempt, unit: 1) else {
                    try await queue.bury(claim, reason: "last attempt")
                    break
                }
                expected.append(delay)
                try await queue.retry(claim, at: harness.now().advanced(by: delay))
                try await harness.advance(delay - .milliseconds(200))
                try await checkAsync(try await queue.claim(worker: "w", visibility: .seconds(60)) == nil, "not due before its delay")
                try await harness.advance(.milliseconds(300))
            }
            try checkEqual(expected, [.seconds(1), .seconds(2), .seconds(4), .seconds(5)])
            try checkEqual(try await queue.deadLetters(limit: 10).map(\.attempt), [4], "buried after the fifth attempt")
        }
    }
}

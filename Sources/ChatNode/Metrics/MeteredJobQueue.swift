import ChatCore

/// A ``JobQueue`` that counts the jobs scheduled through it by kind (`switchboard_jobs_total{kind,
/// result="enqueued"}`) and wakes this node's ``JobRunner`` for them, then passes each call on
/// unchanged.
public struct MeteredJobQueue: JobQueue {
    let base: any JobQueue
    let metrics: NodeMetrics
    /// Called after a job was scheduled (the node's runner's ``JobRunner/wake()``).
    let scheduled: @Sendable () -> Void

    public init(_ base: any JobQueue, metrics: NodeMetrics, scheduled: @escaping @Sendable () -> Void = {}) {
        self.base = base
        self.metrics = metrics
        self.scheduled = scheduled
    }

    public func enqueue(_ job: Job, due: Timestamp) async throws {
        try await base.enqueue(job, due: due)
        metrics.job(job.kind, .enqueued)
        scheduled()
    }

    public func replace(_ job: Job, due: Timestamp) async throws {
        try await base.replace(job, due: due)
        metrics.job(job.kind, .enqueued)
        scheduled()
    }

    public func claim(worker: String, visibility: Duration) async throws -> JobClaim? {
        try await base.claim(worker: worker, visibility: visibility)
    }

    public func complete(_ claim: JobClaim) async throws -> Bool { try await base.complete(claim) }
    public func retry(_ claim: JobClaim, at: Timestamp) async throws -> Bool { try await base.retry(claim, at: at) }
    public func bury(_ claim: JobClaim, reason: String) async throws -> Bool { try await base.bury(claim, reason: reason) }
    public func deadLetters(limit: Int) async throws -> [Job] { try await base.deadLetters(limit: limit) }

    public func requeueDeadLetter(_ id: String, due: Timestamp) async throws -> Bool {
        let requeued = try await base.requeueDeadLetter(id, due: due)
        if requeued { scheduled() }
        return requeued
    }

    public func dropDeadLetter(_ id: String) async throws -> Bool { try await base.dropDeadLetter(id) }
    public func stats() async throws -> JobQueueStats { try await base.stats() }
}

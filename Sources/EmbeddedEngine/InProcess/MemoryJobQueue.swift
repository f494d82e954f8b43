import ChatCore

/// The embedded ``JobQueue``: pending jobs ordered by due time, claims with deadlines, dead letters; in
/// memory on an injected clock. Bounded: at most `capacity` pending or claimed jobs (one more is refused
/// with `unavailable`) and `deadLetterCapacity` dead letters (the oldest dropped first).
public actor MemoryJobQueue: JobQueue {
    private struct Pending {
        var job: Job
        var due: Timestamp
        var claim: JobClaim?
    }
    private let clock: any WallClock
    private let capacity: Int
    private let deadLetterCapacity: Int
    private var jobs: [String: Pending] = [:]
    private var dead: [Job] = []

    public init(clock: any WallClock, capacity: Int = 100_000, deadLetterCapacity: Int = 10_000) {
        self.clock = clock
        self.capacity = capacity
        self.deadLetterCapacity = deadLetterCapacity
    }

    public func enqueue(_ job: Job, due: Timestamp) throws {
        guard jobs[job.id] == nil else { return }
        guard jobs.count < capacity else { throw ChatError.unavailable("the job queue is full") }
        jobs[job.id] = Pending(job: job, due: due)
    }

    public func replace(_ job: Job, due: Timestamp) throws {
        guard jobs[job.id] != nil || jobs.count < capacity else { throw ChatError.unavailable("the job queue is full") }
        var fresh = job
        fresh.attempt = 0
        jobs[job.id] = Pending(job: fresh, due: due)
    }

    public func claim(worker: String, visibility: Duration) -> JobClaim? {
        let now = clock.now()
        let ready = jobs.values.filter { pending in
            guard pending.due <= now else { return false }
            guard let claim = pending.claim else { return true }
            return claim.deadline <= now
        }
        guard let next = ready.min(by: { ($0.due, $0.job.id) < ($1.due, $1.job.id) }) else { return nil }
        var job = next.job
        if next.claim != nil { job.attempt += 1 }
        let claim = JobClaim(job: job, worker: worker, deadline: now.advanced(by: visibility))
        jobs[job.id] = Pending(job: job, due: next.due, claim: claim)
        return claim
    }

    public func complete(_ claim: JobClaim) -> Bool {
        guard holds(claim) else { return false }
        jobs[claim.job.id] = nil
        return true
    }

    public func retry(_ claim: JobClaim, at: Timestamp) -> Bool {
        guard holds(claim) else { return false }
        var job = claim.job
        job.attempt += 1
        jobs[job.id] = Pending(job: job, due: at)
        return true
    }

    public func bury(_ claim: JobClaim, reason: String) -> Bool {
        guard holds(claim) else { return false }
        jobs[claim.job.id] = nil
        if dead.count >= deadLetterCapacity { dead.removeFirst() }
        dead.append(claim.job)
        return true
    }

    public func deadLetters(limit: Int) -> [Job] { Array(dead.suffix(limit)) }

    public func requeueDeadLetter(_ id: String, due: Timestamp) throws -> Bool {
        guard let index = dead.lastIndex(where: { $0.id == id }) else { return false }
        guard jobs[id] == nil else { throw ChatError.conflict("a job with id \(id) is already pending") }
        guard jobs.count < capacity else { throw ChatError.unavailable("the job queue is full") }
        var job = dead.remove(at: index)
        job.attempt = 0
        jobs[id] = Pending(job: job, due: due)
        return true
    }

    public func dropDeadLetter(_ id: String) -> Bool {
        guard let index = dead.lastIndex(where: { $0.id == id }) else { return false }
        dead.remove(at: index)
        return true
    }

    public func stats() -> JobQueueStats {
        JobQueueStats(
            pending: jobs.values.reduce(into: [:]) { $0[$1.job.kind, default: 0] += 1 },
            earliestDue: jobs.values.filter { $0.claim == nil }.map(\.due).min(), deadLetters: dead.count)
    }

    private func holds(_ claim: JobClaim) -> Bool {
        jobs[claim.job.id]?.claim == claim
    }
}

/// A unit of deferred work. `id` makes enqueueing idempotent: a second job with the same id while the
/// first is pending is ignored.
public struct Job: Sendable, Hashable {
    public var id: String
    public var kind: String
    public var payload: [UInt8]
    /// How many times it has been claimed before (0 on the first claim).
    public var attempt: Int

    public init(id: String, kind: String, payload: [UInt8], attempt: Int = 0) {
        self.id = id
        self.kind = kind
        self.payload = payload
        self.attempt = attempt
    }
}

/// A job held by one worker until `deadline`; past it, another worker may claim the job again.
public struct JobClaim: Sendable, Hashable {
    public var job: Job
    public var worker: String
    public var deadline: Timestamp

    public init(job: Job, worker: String, deadline: Timestamp) {
        self.job = job
        self.worker = worker
        self.deadline = deadline
    }
}

/// What a queue holds now: jobs pending (due later, due now, or claimed) by kind, the earliest due
/// time among those not claimed, and the number of dead letters.
public struct JobQueueStats: Sendable, Hashable {
    public var pending: [String: Int]
    public var earliestDue: Timestamp?
    public var deadLetters: Int

    public init(pending: [String: Int], earliestDue: Timestamp?, deadLetters: Int) {
        self.pending = pending
        self.earliestDue = earliestDue
        self.deadLetters = deadLetters
    }
}

/// Delayed, retried jobs.
///
/// Contract: a job becomes claimable at its due time; `claim` hands each due job to one worker at a time
/// (oldest due first) and makes it claimable again after the visibility timeout unless completed,
/// retried or buried; `retry` makes it due again at `at` with `attempt + 1`; `bury` moves it to the
/// dead letters; completing, retrying or burying with a stale claim (expired and taken by another
/// worker) is a no-op that returns false. `enqueue` keeps a pending job with the same id as it is;
/// `replace` puts the new one in its place (due time, payload, attempt 0), taking it from a worker
/// that holds it (whose claim is then stale). A dead letter can be put back (due at once, attempt 0)
/// or dropped, by id. A full queue refuses `enqueue` and `replace` with `unavailable`.
public protocol JobQueue: Sendable {
    func enqueue(_ job: Job, due: Timestamp) async throws
    func replace(_ job: Job, due: Timestamp) async throws
    func claim(worker: String, visibility: Duration) async throws -> JobClaim?
    @discardableResult func complete(_ claim: JobClaim) async throws -> Bool
    @discardableResult func retry(_ claim: JobClaim, at: Timestamp) async throws -> Bool
    @discardableResult func bury(_ claim: JobClaim, reason: String) async throws -> Bool
    /// The newest `limit` dead letters, oldest first.
    func deadLetters(limit: Int) async throws -> [Job]
    /// Puts dead letter `id` back in the queue, due at `due`, attempt 0; false when there is none.
    @discardableResult func requeueDeadLetter(_ id: String, due: Timestamp) async throws -> Bool
    /// Forgets dead letter `id`; false when there is none.
    @discardableResult func dropDeadLetter(_ id: String) async throws -> Bool
    func stats() async throws -> JobQueueStats
}

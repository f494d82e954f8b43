import ChatCore
import Logging
import ServiceLifecycle

/// Runs the jobs of the ``JobQueue`` port on this node: claims one due job at a time, hands it to the
/// handler registered for its kind, and completes it, or retries it with the ``RetryPolicy``'s
/// backoff, or buries it after the last attempt (a job of an unknown kind is buried at once).
///
/// Guarantees: a job is handled by one runner at a time across the cluster (the queue's claim); a
/// handler that throws is retried, so handlers are idempotent; the runner never holds more than one
/// job, and stops at graceful shutdown after the job in hand.
public final class JobRunner: Service, Sendable {
    public typealias Handler = @Sendable (Job) async throws -> Void

    private let queue: any JobQueue
    private let handlers: [String: Handler]
    private let clock: any WallClock
    private let policy: RetryPolicy
    private let worker: String
    private let visibility: Duration
    private let idle: Duration
    private let metrics: NodeMetrics
    private let logger: Logger

    /// - Parameters:
    ///   - visibility: how long a claimed job stays this runner's before another may take it over.
    ///   - idle: how long the runner waits when no job is due.
    public init(
        queue: any JobQueue, handlers: [String: Handler], clock: any WallClock, policy: RetryPolicy, worker: String,
        visibility: Duration = .seconds(30), idle: Duration = .milliseconds(100), metrics: NodeMetrics = .discarding(), logger: Logger
    ) {
        self.metrics = metrics
        self.queue = queue
        self.handlers = handlers
        self.clock = clock
        self.policy = policy
        self.worker = worker
        self.visibility = visibility
        self.idle = idle
        self.logger = logger
        for kind in handlers.keys { metrics.expectJobs(of: kind) }
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                if await self.step() { continue }
                try await Task.sleep(for: self.idle)
            }
        }
    }

    /// Claims and runs one due job; false when none was due (or the queue could not be reached).
    public func step() async -> Bool {
        let claim: JobClaim
        do {
            guard let claimed = try await queue.claim(worker: worker, visibility: visibility) else { return false }
            claim = claimed
        } catch {
            logger.warning("job claim failed", metadata: ["error": "\(error)"])
            return false
        }
        let job = claim.job
        do {
            guard let handler = handlers[job.kind] else { throw ChatError.internal("no handler for job kind '\(job.kind)'") }
            try await handler(job)
            try await queue.complete(claim)
            metrics.job(job.kind, .done)
        } catch {
            await giveBack(claim, after: error)
        }
        return true
    }

    private func giveBack(_ claim: JobClaim, after error: any Error) async {
        let job = claim.job
        do {
            if handlers[job.kind] != nil, let delay = policy.delay(afterAttempt: job.attempt, unit: Double.random(in: 0..<1)) {
                logger.notice("job failed; retrying", metadata: ["job": "\(job.id)", "attempt": "\(job.attempt)", "error": "\(error)"])
                try await queue.retry(claim, at: clock.now().advanced(by: delay))
                metrics.job(job.kind, .retried)
            } else {
                logger.error("job failed for good; dead-lettered", metadata: ["job": "\(job.id)", "error": "\(error)"])
                try await queue.bury(claim, reason: "\(error)")
                metrics.job(job.kind, .buried)
            }
        } catch {
            // The claim lapses and the job becomes due again: nothing is lost.
            logger.warning("could not give a job back", metadata: ["job": "\(job.id)", "error": "\(error)"])
        }
    }
}

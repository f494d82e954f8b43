import ChatCore
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the jobs of the ``JobQueue`` port on this node: claims due jobs, up to `concurrency` at a
/// time, hands each to the handler registered for its kind, and completes it, or retries it with its
/// kind's ``RetryPolicy`` backoff, or buries it after the last attempt (a job of an unknown kind is
/// buried at once).
///
/// It does not poll: when nothing is due it reads the queue's earliest due time and waits until then,
/// or until ``wake()`` (this node scheduled a job), or until a job in hand ends, and at most `maxIdle`
/// (a job another node scheduled wakes no one here). Each such look refreshes the queue's gauges
/// (pending by kind, the age of the oldest due job, dead letters).
///
/// Guarantees: a job is handled by one runner at a time across the cluster (the queue's claim); a
/// handler that throws is retried, so handlers are idempotent; the runner holds at most
/// `concurrency` jobs, and at graceful shutdown claims no more and returns once the jobs in hand end.
public final class JobRunner: Service, Sendable {
    public typealias Handler = @Sendable (Job) async throws -> Void

    /// How the runner works; one place for its defaults.
    public struct Settings: Sendable {
        /// Jobs one node runs at once.
        public var concurrency = 4
        /// How long a claimed job stays this runner's before another may take it over.
        public var visibility: Duration = .seconds(30)
        /// The longest the runner waits without looking at the queue.
        public var maxIdle: Duration = .seconds(1)
        /// The retry policy of each job kind; kinds not named use `defaultPolicy`. Redelivery checks
        /// back off from 5 s to at most 2 min, half of each delay random, 6 checks in all.
        public var policies: [String: RetryPolicy] = [
            Redelivery.kind: RetryPolicy(base: .seconds(5), factor: 2, cap: .seconds(120), maxAttempts: 6, jitter: 0.5)
        ]
        public var defaultPolicy = RetryPolicy()

        public init() {}

        public func policy(for kind: String) -> RetryPolicy { policies[kind] ?? defaultPolicy }
    }

    private let queue: any JobQueue
    private let handlers: [String: Handler]
    private let clock: any WallClock
    private let settings: Settings
    private let worker: String
    private let schedule: Schedule
    private let metrics: NodeMetrics
    private let logger: Logger
    private let wakeUps: AsyncStream<Void>
    private let wakeUp: AsyncStream<Void>.Continuation
    private let inHand = Atomic<Int>(0)

    public init(
        queue: any JobQueue, handlers: [String: Handler], clock: any WallClock, settings: Settings = Settings(), worker: String,
        schedule: @escaping Schedule, metrics: NodeMetrics = .discarding(), logger: Logger
    ) {
        self.metrics = metrics
        self.queue = queue
        self.handlers = handlers
        self.clock = clock
        self.settings = settings
        self.worker = worker
        self.schedule = schedule
        self.logger = logger
        (wakeUps, wakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        for kind in handlers.keys { metrics.expectJobs(of: kind) }
    }

    /// A job was scheduled (or may be due): look at the queue now instead of at the next due time.
    public func wake() { wakeUp.yield() }

    public func run() async throws {
        await withDiscardingTaskGroup { group in
            await withGracefulShutdownHandler {
                var wakeUps = self.wakeUps.makeAsyncIterator()
                while !Task.isCancelled {
                    if inHand.load(ordering: .relaxed) < max(1, settings.concurrency), let claim = await claimNext() {
                        inHand.add(1, ordering: .relaxed)
                        group.addTask {
                            await self.handle(claim)
                            self.inHand.subtract(1, ordering: .relaxed)
                            self.wake()
                        }
                        continue
                    }
                    let cancelTimer = schedule(await idleTime()) { [wakeUp] in wakeUp.yield() }
                    let woken = await wakeUps.next() != nil
                    cancelTimer()
                    if !woken { break }
                }
            } onGracefulShutdown: { [wakeUp] in
                wakeUp.finish()
            }
        }
    }

    /// Claims and runs one due job; false when none was due (or the queue could not be reached).
    public func step() async -> Bool {
        guard let claim = await claimNext() else { return false }
        await handle(claim)
        return true
    }

    private func claimNext() async -> JobClaim? {
        do {
            return try await queue.claim(worker: worker, visibility: settings.visibility)
        } catch {
            logger.warning("job claim failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    /// How long to wait before looking again: until the earliest due job, at most `maxIdle`; the
    /// queue's gauges are refreshed on the way.
    private func idleTime() async -> Duration {
        guard inHand.load(ordering: .relaxed) < max(1, settings.concurrency) else { return settings.maxIdle }
        let stats: JobQueueStats
        do {
            stats = try await queue.stats()
        } catch {
            logger.warning("job queue stats failed", metadata: ["error": "\(error)"])
            return settings.maxIdle
        }
        let now = clock.now()
        metrics.jobQueue(stats, now: now)
        guard let due = stats.earliestDue else { return settings.maxIdle }
        let wait = Duration.milliseconds(max(0, due.milliseconds - now.milliseconds))
        return min(wait, settings.maxIdle)
    }

    private func handle(_ claim: JobClaim) async {
        let job = claim.job
        do {
            guard let handler = handlers[job.kind] else { throw ChatError.internal("no handler for job kind '\(job.kind)'") }
            try await handler(job)
            try await queue.complete(claim)
            metrics.job(job.kind, .done)
        } catch {
            await giveBack(claim, after: error)
        }
    }

    private func giveBack(_ claim: JobClaim, after error: any Error) async {
        let job = claim.job
        do {
            if handlers[job.kind] != nil,
                let delay = settings.policy(for: job.kind).delay(afterAttempt: job.attempt, unit: Double.random(in: 0..<1))
            {
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

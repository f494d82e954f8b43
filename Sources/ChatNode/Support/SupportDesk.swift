import ChatCore
import Logging

/// Returns a support request to its queue when the agent holding it goes away before replying
/// (seeds 003 and 004: a customer is never left with nobody).
///
/// When an agent's last connection ends (on any node, or by presence expiry), ``agentWentOffline(_:at:)``
/// schedules a `support.requeue` job on the ``JobQueue`` port, due `requeueAfter` later. The job
/// (``handle(_:)``) checks presence then: an agent who came back, or who went away again more recently
/// (that disconnect has its own job), keeps the requests; otherwise every request they hold without
/// having replied goes back to the queue. Being a job, the check survives this node's restart (with a
/// durable queue) and is retried if the store is briefly down.
public struct SupportDesk: Sendable {
    public static let requeueKind = "support.requeue"

    private let queue: any JobQueue
    private let presence: any Presence
    private let service: ChatService
    private let clock: any WallClock
    private let requeueAfter: Duration
    private let logger: Logger

    public init(queue: any JobQueue, presence: any Presence, service: ChatService, clock: any WallClock, requeueAfter: Duration, logger: Logger) {
        self.queue = queue
        self.presence = presence
        self.service = service
        self.clock = clock
        self.requeueAfter = requeueAfter
        self.logger = logger
    }

    /// Schedules the requeue check for `agent`, who went offline at `time`.
    public func agentWentOffline(_ agent: UserID, at time: Timestamp) async {
        let job = Job(id: "\(Self.requeueKind):\(agent.rawValue):\(time.milliseconds)", kind: Self.requeueKind, payload: Array(agent.rawValue.utf8))
        do {
            try await queue.enqueue(job, due: time.advanced(by: requeueAfter))
        } catch {
            logger.warning("could not schedule a support requeue", metadata: ["agent": "\(agent)", "error": "\(error)"])
        }
    }

    /// The `support.requeue` job's handler.
    public func handle(_ job: Job) async throws {
        guard let agent = UserID(String(decoding: job.payload, as: UTF8.self)) else { return }
        let status = try await presence.status(of: [agent]).first
        guard SupportRules.shouldRequeue(
            agentOnline: status?.online ?? false, lastSeen: status?.lastSeen, now: clock.now(), after: requeueAfter)
        else { return }
        let count = try await service.requeueSupport(of: agent)
        if count > 0 { logger.info("support requests returned to the queue", metadata: ["agent": "\(agent)", "count": "\(count)"]) }
    }
}

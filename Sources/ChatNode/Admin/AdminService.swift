import ChatCore
import ChatWire
import Foundation

/// The admin API's operations, for callers whose token carries the ``AdminService/role`` role
/// (`forbidden` for anyone else): the cluster's nodes as they last reported (any node answers for
/// all, from the ``NodeDirectory``), and the shared job queue with its dead letters.
public struct AdminService: Sendable {
    /// The token role that opens the admin API.
    public static let role = "admin"

    let directory: any NodeDirectory
    let jobs: any JobQueue
    let reporter: NodeReporter
    let clock: any WallClock
    let limits: Limits

    public init(directory: any NodeDirectory, jobs: any JobQueue, reporter: NodeReporter, clock: any WallClock, limits: Limits) {
        self.directory = directory
        self.jobs = jobs
        self.reporter = reporter
        self.clock = clock
        self.limits = limits
    }

    static func check(_ caller: Principal) throws(ChatError) {
        guard caller.roles.contains(role) else { throw .forbidden("the admin API needs a token with the '\(role)' role") }
    }

    /// Every node that reported within its report's lifetime, by id; this node's report is fresh.
    public func nodes(as caller: Principal) async throws -> NodesReply {
        try Self.check(caller)
        await reporter.announce()
        let decoder = JSONDecoder()
        return NodesReply(nodes: try await directory.nodes().compactMap { try? decoder.decode(NodeReportBody.self, from: Data($0.report)) })
    }

    /// The queue's depth by kind, its oldest due time and the newest `limit` dead letters.
    public func jobs(limit: Int?, as caller: Principal) async throws -> JobsReply {
        try Self.check(caller)
        let count = try limits.pageSize(limit)
        return JobsReply(try await jobs.stats(), deadLetters: try await jobs.deadLetters(limit: count))
    }

    /// Puts a dead letter back in the queue, due now, from its first attempt; `not_found` when there is none.
    public func retryDeadLetter(_ id: String, as caller: Principal) async throws -> DeadLetterActionReply {
        try Self.check(caller)
        guard try await jobs.requeueDeadLetter(id, due: clock.now()) else { throw ChatError.notFound("no dead letter '\(id)'") }
        return DeadLetterActionReply(id: id, done: "requeued")
    }

    /// Forgets a dead letter; `not_found` when there is none.
    public func dropDeadLetter(_ id: String, as caller: Principal) async throws -> DeadLetterActionReply {
        try Self.check(caller)
        guard try await jobs.dropDeadLetter(id) else { throw ChatError.notFound("no dead letter '\(id)'") }
        return DeadLetterActionReply(id: id, done: "dropped")
    }
}

import ChatCore
import ChatNode
import ChatTesting
import ChatWire
import EmbeddedEngine
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// A node's admin report: announced as soon as the reporter runs, read back by the admin API as the
/// node sent it, and withdrawn when a graceful shutdown begins.
@Suite struct NodeReporterTests {
    static func report(sessions: Int) -> NodeReportBody {
        NodeReportBody(
            node: "node-r", engine: "embedded", startedAt: 1, reportedAt: 2, ready: true, connections: sessions, sessions: sessions, users: sessions,
            sessionsListed: [], framesIn: 3, eventsOut: 4, errors: ["not_found": 1])
    }

    @Test func theReportIsAnnouncedWhileTheNodeRunsAndWithdrawnWhenItStops() async throws {
        let clock = ManualClock()
        let directory = MemoryNodeDirectory(clock: clock)
        let reporter = NodeReporter(
            directory: directory, node: NodeID("node-r"), interval: .seconds(3600), report: { Self.report(sessions: 2) }, logger: Logger(label: "test"))
        #expect(reporter.lifetime == .seconds(3 * 3600))
        let admin = AdminService(directory: directory, jobs: MemoryJobQueue(clock: clock), reporter: reporter, clock: clock, limits: Limits())
        let group = ServiceGroup(configuration: .init(services: [.init(service: reporter)], logger: Logger(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await eventually("the report announced") { await directory.nodes().map(\.node) == [NodeID("node-r")] }
            let operator_ = Principal(user: UserID("ops")!, roles: [AdminService.role])
            #expect(try await admin.nodes(as: operator_).nodes == [Self.report(sessions: 2)])
            await #expect(throws: ChatError.forbidden("the admin API needs a token with the 'admin' role")) {
                try await admin.nodes(as: Principal(user: UserID("ann")!))
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(await directory.nodes().isEmpty, "withdrawn when the node stops")
    }
}

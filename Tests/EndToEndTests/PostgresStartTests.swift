import ChatClient
import ChatCore
import ChatTesting
import Foundation
import Logging
import PostgresEngine
import Testing
import TestServers

/// Nodes sharing one PostgreSQL database.
@Suite struct PostgresStartTests {
    /// Two nodes started at the same moment on an empty database: both come up and serve, and the
    /// migrations ran once, all by one of them.
    @Test func twoNodesStartingAtOnceMigrateOnce() async throws {
        let database = try await TestPostgres.createDatabase()
        let up = Recorder<String>()
        let nodes = ["node-a", "node-b"].map { id in
            TestNode {
                $0.databaseURL = database.url
                $0.nodeID = id
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in nodes {
                group.addTask {
                    try await node.run { url in
                        up.record(url)
                        // Both must be serving at the same time, each on the shared database.
                        try await eventually("both nodes are up") { up.count == 2 }
                        let client = try await TestNode.client(url, "ann")
                        let (status, _) = try await client.call("GET", "/health/ready")
                        #expect(status == 200)
                        _ = try await client.withConnection { try await $0.createDirect(with: "bob") }
                    }
                }
            }
            try await group.waitForAll()
        }
        let status = try await Migrator.status(try database.settings, logger: Logger(label: "test"))
        #expect(status.map(\.version) == Migrator.all.map(\.version) && status.allSatisfy { $0.appliedAt != nil })
        let appliers = Set(status.compactMap(\.appliedBy))
        #expect(appliers.count == 1 && appliers.isSubset(of: ["node-a", "node-b"]), "one node applied every migration: \(appliers)")
        await database.drop()
    }
}

import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing
import TestServers

#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM to the real `switchboard` binary with clients connected.
@Suite struct DrainTests {
    /// Starts `switchboard serve` on a free port; returns the process and its base URL.
    /// On the second pass of `make test` the node stores in PostgreSQL: `--database-url` names the test's database.
    static func start(directory: String, database: TestDatabase?) async throws -> (Process, String) {
        let node = try await NodeProcess.start(
            ["--data-dir", directory, "--auth-secret", TestNode.secret, "--drain-grace-ms", "1500", "--drain-jitter-ms", "1000"]
                + (database.map { ["--database-url", $0.url] } ?? []))
        return (node.process, node.url)
    }

    @Test func sigtermDrainsClientsAndExitsZero() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-drain-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = TestNode.onPostgres ? try await TestPostgres.createDatabase() : nil
        let (process, url) = try await Self.start(directory: directory, database: database)
        defer { if process.isRunning { process.terminate() } }
        let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
        let id = try await bob.withConnection { bobSocket in
            try await alice.withConnection { aliceSocket in
                let id = try await aliceSocket.createDirect(with: "bob").conversation.id
                for index in 1...5 { _ = try await aliceSocket.send("acked \(index)", to: id) }
                kill(process.processIdentifier, SIGTERM)
                try await eventually("readiness turns false while clients are still connected") {
                    let (status, _) = try await alice.call("GET", "/health/ready")
                    return status == 503 && !aliceSocket.isClosed
                }
                for socket in [aliceSocket, bobSocket] {
                    try await eventually("a reconnect advisory, then 1012") {
                        socket.events.contains { $0.type == EventType.reconnect.rawValue } && socket.closeCode == 1012
                    }
                    let advisory = try #require(socket.events.first { $0.type == EventType.reconnect.rawValue })
                    #expect(try advisory.payload(ReconnectEvent.self).delayMs <= 1000)
                }
                return id
            }
        }
        try await eventually("the process exits") { !process.isRunning }
        #expect(process.terminationStatus == 0)
        // Nothing acknowledged was lost.
        let (restarted, secondURL) = try await Self.start(directory: directory, database: database)
        defer { if restarted.isRunning { restarted.terminate() } }
        let history = try await TestNode.client(secondURL, "bob").rest("GET", "/v1/conversations/\(id)/messages", as: HistoryReply.self)
        #expect(history.messages.map(\.content) == (1...5).map { "acked \($0)" })
        kill(restarted.processIdentifier, SIGTERM)
        try await eventually("the second process exits") { !restarted.isRunning }
        await database?.drop()
    }
}

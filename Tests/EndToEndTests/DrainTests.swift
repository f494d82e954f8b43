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
    /// The binary `make test` built beside the tests.
    static var binary: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/switchboard").path
    }

    /// Starts `switchboard serve` on a free port; returns the process and its base URL.
    /// On the second pass of `make test` the node stores in PostgreSQL: `--database-url` names the test's database.
    static func start(directory: String, database: TestDatabase?) async throws -> (Process, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "serve", "--data-dir", directory, "--http-port", "0", "--auth-secret", TestNode.secret, "--drain-grace-ms", "1500",
            "--drain-jitter-ms", "1000",
        ] + (database.map { ["--database-url", $0.url] } ?? [])
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        let lines = Recorder<String>()
        output.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            if !data.isEmpty { lines.record(String(decoding: data, as: UTF8.self)) }
        }
        try process.run()
        var url: String?
        try await eventually("the node says where it listens") {
            let text = lines.all.joined()
            guard let range = text.range(of: #"http=http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else { return false }
            url = String(text[range].dropFirst(5))
            return true
        }
        return (process, try #require(url))
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

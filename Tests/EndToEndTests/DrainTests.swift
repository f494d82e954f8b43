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

    /// A client that upgraded and then neither reads nor writes cannot hold the drain open: the node
    /// exits about `drain.grace.ms` + `ws.close.timeout.ms` after SIGTERM, not when the client leaves.
    @Test func aStalledClientCannotHoldTheDrainOpen() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-stall-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let database = TestNode.onPostgres ? try await TestPostgres.createDatabase() : nil
        // Pings far apart: the ping timeout must not be what ends the connection.
        let node = try await NodeProcess.start(
            ["--data-dir", directory, "--auth-secret", TestNode.secret, "--drain-grace-ms", "500", "--ws-close-timeout-ms", "1000",
             "--ws-ping-interval-ms", "600000"] + (database.map { ["--database-url", $0.url] } ?? []))
        defer { if node.isRunning { node.signal(SIGKILL) } }
        let port = try #require(URLComponents(string: node.url)?.port)
        let token = try await TestNode.token("stalled")
        let fd = try await RawWebSocket.blocking {
            let fd = try RawWebSocket.open(port: port, path: "/v1/ws", headers: ["Authorization": "Bearer \(token)"], timeoutSeconds: 10)
            let welcome = RawWebSocket.stream(fd) { opcode, payload in
                opcode == 0x1 && String(decoding: payload, as: UTF8.self).contains("\"welcome\"")
            }
            guard welcome.frames >= 1, !welcome.ended else {
                close(fd)
                throw ConformanceFailure(message: "no welcome", file: #filePath, line: #line)
            }
            return fd
        }
        defer { close(fd) }
        // From here on the client neither reads nor writes, and keeps its socket open.
        node.signal(SIGTERM)
        // Without the close timeout it never exits while the socket is open (the old drain waited for
        // the client); 20 s bounds a run that should take about 1.5 s.
        try await eventually(timeout: .seconds(20), "the node exits while the stalled client still holds its socket") { !node.isRunning }
        #expect(node.process.terminationStatus == 0)
        await database?.drop()
    }
}

import ChatCore
import ChatTesting
import Foundation
import NodeBootstrap
import Testing
import TestServers

/// `switchboard jobs` on the real binary against the test Redis: it shows dead letters made here,
/// puts one back in the queue and drops another; without a shared queue it says why and fails.
@Suite struct JobsCommandTests {
    /// Runs `switchboard ARGUMENTS` to its end; its exit status and what it printed.
    static func switchboard(_ arguments: [String]) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: NodeProcess.binary)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // The blocking read on a thread of its own (see `RawWebSocket.blocking`).
        let data = try await RawWebSocket.blocking { output.fileHandleForReading.readDataToEndOfFile() }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func showsRetriesAndDropsDeadLetters() async throws {
        let url = try TestRedis.url()
        let prefix = TestRedis.uniquePrefix()
        var configuration = NodeConfiguration()
        configuration.redisURL = url
        configuration.redisPrefix = prefix
        let (queue, close) = try #require(try Node.sharedJobQueue(configuration))
        defer { close() }
        let now = SystemWallClock().now()
        for id in ["notify:keep", "notify:gone"] {
            try await queue.enqueue(Job(id: id, kind: "notify", payload: Array("payload".utf8)), due: now)
            let claim = try #require(try await queue.claim(worker: "test", visibility: .seconds(30)))
            try await queue.bury(claim, reason: "the test buried it")
        }
        let flags = ["--redis-url", url, "--redis-prefix", prefix]

        let shown = try await Self.switchboard(["jobs"] + flags)
        #expect(shown.status == 0, "\(shown.output)")
        #expect(shown.output.contains("dead letters: 2"), "\(shown.output)")
        #expect(shown.output.contains("notify:keep") && shown.output.contains("notify:gone"), "\(shown.output)")

        let retried = try await Self.switchboard(["jobs", "retry", "notify:keep"] + flags)
        #expect(retried.status == 0 && retried.output.contains("requeued notify:keep"), "\(retried.output)")
        let dropped = try await Self.switchboard(["jobs", "drop", "notify:gone"] + flags)
        #expect(dropped.status == 0 && dropped.output.contains("dropped notify:gone"), "\(dropped.output)")
        #expect(try await queue.deadLetters(limit: 10).isEmpty, "both dead letters handled")
        #expect(try await queue.stats().pending == ["notify": 1], "the retried one is pending again")
        let again = try #require(try await queue.claim(worker: "test", visibility: .seconds(30)))
        #expect(again.job.id == "notify:keep" && again.job.attempt == 0 && again.job.payload == Array("payload".utf8))

        let missing = try await Self.switchboard(["jobs", "drop", "notify:none"] + flags)
        #expect(missing.status != 0 && missing.output.contains("no dead letter notify:none"), "\(missing.output)")
        let embedded = try await Self.switchboard(["jobs"])
        #expect(embedded.status != 0 && embedded.output.contains("--redis-url"), "\(embedded.output)")
    }
}

import ChatTesting
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `switchboard serve` binary (built beside the tests by `make test`) in a process of its own.
struct NodeProcess: Sendable {
    let process: Process
    /// The node's base URL, as it printed it.
    let url: String

    static var binary: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent(".build/debug/switchboard").path
    }

    /// Starts `switchboard serve ARGUMENTS` and waits until it says where it listens.
    static func start(_ arguments: [String]) async throws -> NodeProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        // Redelivery is off unless a test asks for it (see TestNode: these clients do not mark deliveries).
        let redelivery = arguments.contains("--redeliver-delay-ms") ? [] : ["--redeliver-delay-ms", "0"]
        process.arguments = ["serve", "--http-port", "0"] + redelivery + arguments
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
        do {
            try await eventually(timeout: .seconds(60), "the node says where it listens") {
                let text = lines.all.joined()
                guard let range = text.range(of: #"http=http://127\.0\.0\.1:[0-9]+"#, options: .regularExpression) else {
                    if !process.isRunning { throw NodeExited(output: text) }
                    return false
                }
                url = String(text[range].dropFirst(5))
                return true
            }
        } catch {
            if process.isRunning { process.terminate() }
            throw error
        }
        return NodeProcess(process: process, url: try #require(url))
    }

    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    var isRunning: Bool { process.isRunning }

    /// SIGTERM, then waits for the exit.
    func stop() async {
        guard process.isRunning else { return }
        signal(SIGTERM)
        try? await eventually(timeout: .seconds(30), "the node exits") { !process.isRunning }
        if process.isRunning { signal(SIGKILL) }
    }

    struct NodeExited: Error, CustomStringConvertible {
        let output: String
        var description: String { "the node exited before listening:\n\(output)" }
    }
}

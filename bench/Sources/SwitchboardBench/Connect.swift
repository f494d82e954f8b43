import Foundation
import NIOPosix

/// `connect`: `users` idle authenticated WebSockets, spread over the nodes, opened 256 at a time as
/// fast as the nodes accept them (each waits for its `welcome`), then held for `durationSeconds`. What
/// it measures: the connect rate, and the resident memory each connection costs every measured
/// process (its growth over the run divided by the connections).
///
/// A process here may hold at most 20,000 descriptors: the harness needs one per connection and a node
/// one per client, so about 19,000 is the most one harness process measures against one node.
struct ConnectRun: Sendable {
    let scenario: Scenario
    let nodes: [NodeTarget]
    let tokens: TokenSource
    let group: MultiThreadedEventLoopGroup
    let recorder: Recorder
    let stats: ProcessStats
    let progress: @Sendable (String) -> Void

    func run() async throws -> RunReport.Connections {
        let runID = String((0..<6).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
        let before = stats.resident()
        let joined = Counter()
        var users: [BenchUser] = []
        for index in 0..<scenario.users {
            let name = "c\(runID)-\(index)"
            users.append(
                BenchUser(
                    name: name, loop: group.next(), nodes: nodes, firstNode: index, token: try tokens.token(for: name), recorder: recorder,
                    joined: joined))
        }
        defer { for user in users { user.stop() } }
        let start = Recorder.now()
        var lastReport = start
        for batch in stride(from: 0, to: users.count, by: 256) {
            let starting = users[batch..<min(batch + 256, users.count)].map { $0.start() }
            for future in starting { try await future.get() }
            if Recorder.now() - lastReport >= 1_000_000_000 {
                lastReport = Recorder.now()
                progress("  \(String(format: "%.1f", Double(lastReport - start) / 1e9))s  connected \(min(batch + 256, users.count))")
            }
        }
        let seconds = Double(Recorder.now() - start) / 1e9
        progress("  all \(users.count) connected in \(fmt(seconds)) s; holding them \(fmt(scenario.durationSeconds)) s")
        try await Task.sleep(for: .seconds(scenario.durationSeconds))
        let after = stats.resident()
        var perConnection: [String: Double] = [:]
        for (name, mib) in after where name != "harness" {
            perConnection[name] = (mib - (before[name] ?? 0)) * 1024 / Double(max(1, users.count))
        }
        return RunReport.Connections(
            count: users.count, seconds: seconds, perSecond: Double(users.count) / max(seconds, 1e-9),
            harnessKilobytesPerConnection: ((after["harness"] ?? 0) - (before["harness"] ?? 0)) * 1024 / Double(max(1, users.count)),
            kilobytesPerConnection: perConnection)
    }
}

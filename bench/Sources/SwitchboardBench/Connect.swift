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
        let before = stats.resident()
        let users = try BenchUser.make(
            scenario.users, prefix: "c", nodes: nodes, tokens: tokens, group: group, recorder: recorder, joined: Counter())
        defer { for user in users { user.stop() } }
        let start = Recorder.now()
        var lastReport = start
        try await BenchUser.connect(users) { connected in
            guard Recorder.now() - lastReport >= 1_000_000_000 else { return }
            lastReport = Recorder.now()
            progress("  \(String(format: "%.1f", Double(lastReport - start) / 1e9))s  connected \(connected)")
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

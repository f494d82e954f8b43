import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// `connect`: `users` idle authenticated WebSockets, spread over the nodes, opened 256 at a time per
/// harness process as fast as the nodes accept them (each waits for its `welcome`), then held for
/// `durationSeconds`. What it measures: the connect rate, and the resident memory each connection
/// costs every measured process (its growth over the run divided by the connections).
///
/// A process here may hold at most 20,000 descriptors: the harness needs one per connection, so with
/// `processes` above 1 it spreads the connections over `connect-worker` child processes (each counted
/// in the harness's CPU and memory, which cover its process tree), and over the fleet's source
/// addresses so that one address's ephemeral ports are not the limit either.
struct ConnectRun: Sendable {
    let scenario: Scenario
    let fleet: Fleet
    let recorder: Recorder
    let stats: ProcessStats
    /// Harness processes to spread the connections over, this one included.
    let processes: Int
    /// The arguments that give a worker the same nodes, sources and loops (the token source goes
    /// through its environment, not its command line).
    let workerArguments: [String]
    let workerEnvironment: [String: String]
    let progress: @Sendable (String) -> Void

    /// The connections' figures, and every measured process's usage since `cpuBefore`, read while
    /// they are still held (the workers' CPU is part of the harness's only while they live).
    func run(cpuBefore: [String: Double]) async throws -> (RunReport.Connections, [ProcessStats.Usage]) {
        let before = stats.resident()
        let shares = (0..<processes).map { scenario.users / processes + ($0 < scenario.users % processes ? 1 : 0) }
        let start = Recorder.now()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-bench-\(getpid())-\(start)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var workers: [Process] = []
        defer {
            for worker in workers where worker.isRunning { worker.terminate() }
            for worker in workers { worker.waitUntilExit() }
        }
        for (index, share) in shares.enumerated().dropFirst() where share > 0 {
            let worker = Process()
            worker.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
            worker.arguments = ["connect-worker", "--users", "\(share)", "--prefix", "c\(index)-", "--report", "\(directory)/\(index)"] + workerArguments
            worker.environment = ProcessInfo.processInfo.environment.merging(workerEnvironment) { $1 }
            try worker.run()
            workers.append(worker)
        }
        let users = try BenchUser.make(shares[0], prefix: "c0-", fleet: fleet, recorder: recorder, joined: Counter())
        defer { for user in users { user.stop() } }
        var lastReport = start
        try await BenchUser.connect(users) { connected in
            guard Recorder.now() - lastReport >= 1_000_000_000 else { return }
            lastReport = Recorder.now()
            progress("  \(String(format: "%.1f", Double(lastReport - start) / 1e9))s  connected \(connected) in this process")
        }
        var count = users.count
        for index in shares.indices.dropFirst() where shares[index] > 0 {
            let report = "\(directory)/\(index)"
            try await waitFor("connect-worker \(index)", timeout: 600) {
                FileManager.default.fileExists(atPath: report) || workers.contains { !$0.isRunning }
            }
            let text = (try? String(contentsOfFile: report, encoding: .utf8)) ?? "failed: the worker exited"
            guard let connected = Int(text.split(separator: " ").first ?? "") else { throw BenchError("connect-worker \(index) \(text)") }
            count += connected
        }
        let seconds = Double(Recorder.now() - start) / 1e9
        progress("  all \(count) connected in \(fmt(seconds)) s over \(processes) process(es); holding them \(fmt(scenario.durationSeconds)) s")
        try await Task.sleep(for: .seconds(scenario.durationSeconds))
        let after = stats.resident()
        let usage = stats.usage(since: cpuBefore, wallSeconds: Double(Recorder.now() - start) / 1e9)
        var perConnection: [String: Double] = [:]
        for (name, mib) in after where name != ProcessStats.harness {
            perConnection[name] = (mib - (before[name] ?? 0)) * 1024 / Double(max(1, count))
        }
        let connections = RunReport.Connections(
            count: count, seconds: seconds, perSecond: Double(count) / max(seconds, 1e-9),
            harnessKilobytesPerConnection: ((after[ProcessStats.harness] ?? 0) - (before[ProcessStats.harness] ?? 0)) * 1024 / Double(max(1, count)),
            kilobytesPerConnection: perConnection)
        return (connections, usage)
    }
}

/// `switchboard-bench connect-worker`: one share of a `connect` run in a process of its own (started
/// by `run`, not by hand). It connects its users, writes "<count> <seconds>" to the report file, and
/// holds them until it is terminated.
struct ConnectWorker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect-worker", abstract: "One process's share of a connect run (started by `run`).", shouldDisplay: false)

    @Option var users: Int
    @Option var prefix: String
    @Option var report: String
    @Option var nodes: String
    @Option var sources: String = ""
    @Option var loops: Int = 1

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let tokens: TokenSource
        if let secret = environment["SWITCHBOARD_BENCH_SECRET"] {
            tokens = .secret(secret)
        } else if let command = environment["SWITCHBOARD_BENCH_TOKEN_COMMAND"] {
            tokens = .command(command)
        } else {
            throw ValidationError("no token source in the environment")
        }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, loops))
        let fleet = Fleet(
            nodes: try nodes.split(separator: ",").map { try NodeTarget(url: String($0)) }, tokens: tokens, group: group,
            sources: try Fleet.sources(sources))
        let start = Recorder.now()
        do {
            let made = try BenchUser.make(users, prefix: prefix, fleet: fleet, recorder: Recorder(), joined: Counter())
            try await BenchUser.connect(made)
            let seconds = Double(Recorder.now() - start) / 1e9
            try "\(made.count) \(seconds)".write(toFile: report, atomically: true, encoding: .utf8)
            while true { try await Task.sleep(for: .seconds(3600)) }
        } catch {
            try? "failed: \(error)".write(toFile: report, atomically: true, encoding: .utf8)
            throw error
        }
    }
}

import ArgumentParser
import BenchAccounting
import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

@main
struct SwitchboardBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard-bench",
        abstract: "Load and failover harness for Switchboard deployments (bench/README.md).",
        subcommands: [Run.self, Compare.self, Summarize.self, ReferenceNodeCommand.self, ConnectWorker.self])
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Runs a scenario file against running nodes and reports.")

    @Argument(help: "A scenario file (bench/scenarios/*.json).") var scenarioFile: String
    @Option(help: "Comma-separated node base URLs.") var nodes: String = "http://127.0.0.1:8080"
    @Option(help: "The nodes' HS256 secret: the harness mints its users' tokens.") var secret: String?
    @Option(help: "A command that prints a token for {user}, for deployments with other keys.") var tokenCommand: String?
    @Option(help: "Where to write the JSON result and the HTML report.") var out: String = "bench/results"
    @Option(name: .customLong("process"), help: "NAME=PID of a process to measure (a node, redis, postgres); repeatable.")
    var processes: [String] = []
    @Option(help: "Event loop threads of the harness.") var loops: Int = 1
    @Option(help: "Comma-separated local addresses to connect from, round-robin (127.0.0.1,127.0.0.2,…).") var sources: String = ""
    @Option(help: "connect: harness processes to spread the connections over (each may hold 20,000 descriptors).")
    var connectProcesses: Int = 1
    @Option(help: "Overrides the scenario's users.") var users: Int?
    @Option(help: "Overrides the scenario's messages per second per conversation.") var rate: Double?
    @Option(help: "Overrides the scenario's duration in seconds.") var duration: Double?
    @Option(help: "A drill: the fault's name (for the report).") var fault: String?
    @Option(help: "A drill: the shell command that makes the fault.") var faultCommand: String?
    @Option(help: "A drill: seconds into the send window when the fault happens.") var faultAt: Double = 5
    @Option(help: "A drill: the shell command that undoes the fault.") var restoreCommand: String?
    @Option(help: "A drill: seconds after the fault when it is undone.") var restoreAfter: Double = 10
    @Flag(help: "A drill: an error or an unanswered request fails the run too (a rolling deploy shows clients nothing but the reconnect advisory).")
    var strictErrors = false

    func run() async throws {
        var scenario = try Scenario.load(scenarioFile)
        if let users { scenario.users = users }
        if let rate { scenario.messagesPerSecond = rate }
        if let duration { scenario.durationSeconds = duration }
        try scenario.validate()
        let tokens: TokenSource
        if let secret { tokens = .secret(secret) } else if let tokenCommand { tokens = .command(tokenCommand) } else {
            throw ValidationError("give --secret or --token-command")
        }
        let targets = try nodes.split(separator: ",").map { try NodeTarget(url: String($0)) }
        var measured: [(name: String, pid: Int32)] = [(ProcessStats.harness, getpid())]
        for entry in processes {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let pid = Int32(parts[1]) else { throw ValidationError("--process takes NAME=PID, not '\(entry)'") }
            measured.append((String(parts[0]), pid))
        }
        let stats = ProcessStats(processes: measured)
        guard connectProcesses >= 1 else { throw ValidationError("--connect-processes must be at least 1") }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, loops))
        let fleet = Fleet(nodes: targets, tokens: tokens, group: group, sources: try Fleet.sources(sources))
        do {
            try await run(scenario: scenario, fleet: fleet, stats: stats)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        try? await group.shutdownGracefully()
    }

    private func run(scenario: Scenario, fleet: Fleet, stats: ProcessStats) async throws {

        say("switchboard-bench \(scenario.scenario): \(scenario.users) users in groups of \(scenario.groupSize) on \(fleet.nodes.count) node(s), \(fmt(scenario.messagesPerSecond)) msg/s per conversation for \(fmt(scenario.durationSeconds)) s")
        var steps: [RunReport.Step] = []
        var saturation: Double?
        var rate = scenario.messagesPerSecond
        let stepCount = scenario.scenario == "ramp" ? scenario.rampSteps : 1
        for _ in 0..<stepCount {
            let step = try await runStep(scenario: scenario, rate: rate, fleet: fleet, stats: stats)
            steps.append(step)
            if scenario.scenario == "ramp" {
                say("  step \(fmt(rate)) msg/s: \(fmt(step.deliveriesPerSecond)) deliveries/s, p99 \(fmt(step.sendToDeliver.p99)) ms, lost \(step.tally.lost)\(step.verdict.isEmpty ? "" : " — " + step.verdict.joined(separator: "; "))")
                guard step.verdict.isEmpty else { break }
                saturation = step.deliveriesPerSecond
                rate *= scenario.rampFactor
            }
        }
        var warnings: [String] = []
        for step in steps {
            if let harness = step.processes.first(where: { $0.name == ProcessStats.harness }), harness.cores >= 0.85 * Double(max(1, loops)) {
                warnings.append(
                    "at \(fmt(step.messagesPerSecond)) msg/s the harness used \(fmt(harness.cores)) cores with \(loops) loop(s): it, not the node, may have been the limit (raise --loops)")
            }
            if let stolen = step.processes.first(where: { $0.name == ProcessStats.stolen }), stolen.cores >= Self.stolenLimit {
                warnings.append(
                    "at \(fmt(step.messagesPerSecond)) msg/s the host took \(fmt(stolen.cores)) cores from this machine (steal time): another guest was busy; do not compare this run's figures with a quiet one's")
            }
        }
        let report = RunReport(
            command: Self.redacted(CommandLine.arguments), date: ISO8601DateFormatter().string(from: Date()), scenario: scenario,
            nodes: nodes.split(separator: ",").map(String.init), harnessLoops: loops, steps: steps, saturation: saturation, warnings: warnings)
        say("")
        say(report.table())
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let stamp = report.date.replacingOccurrences(of: ":", with: "")
        let base = "\(out)/\(scenario.scenario)-\(stamp)"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(report).write(to: URL(fileURLWithPath: base + ".json"))
        try Data(report.html().utf8).write(to: URL(fileURLWithPath: base + ".html"))
        say("\nresult: \(base).json\nreport: \(base).html")
        // A fanout that lost a message or showed a duplicate failed; a ramp stops at its first unclean step by design.
        let failed = steps.contains { $0.tally.duplicatesShown > 0 }
            || (strictErrors && steps.contains { $0.tally.errors.values.reduce(0, +) > 0 || $0.tally.acknowledged < $0.tally.sent })
            || (scenario.scenario != "ramp" && steps.contains { $0.tally.lost > 0 || ($0.fault != nil && $0.recoverySeconds == nil) })
        if failed { throw ExitCode(1) }
    }

    /// What the host took in a step's measured seconds (after the warm-up) slower than `limit`, nothing
    /// when it took nothing: a step failed in the host's bursts reads as such.
    static func hostShare(_ samples: [Recorder.Sample], limit: Double, warmup: Double) -> String {
        let slow = samples.filter { Double($0.second) > warmup && $0.p99Milliseconds > limit }
        let stolen = slow.compactMap(\.stolenMilliseconds).reduce(0, +)
        guard stolen > 0 else { return "" }
        return " (the host took \(fmt(stolen)) ms of CPU in its \(slow.count) second(s) above it)"
    }

    /// Stolen CPU beyond which a run is flagged as measured on a busy host (an idle machine here shows a
    /// few hundredths of a core).
    static let stolenLimit = 0.1

    /// The command line as run, with the secret's value left out (results are shared).
    static func redacted(_ arguments: [String]) -> String {
        var words: [String] = []
        var hideNext = false
        for argument in arguments {
            if hideNext {
                words.append("…")
                hideNext = false
            } else if argument.hasPrefix("--secret=") {
                words.append("--secret=…")
            } else {
                words.append(argument)
                hideNext = argument == "--secret"
            }
        }
        return words.joined(separator: " ")
    }

    private func runStep(
        scenario: Scenario, rate: Double, fleet: Fleet, stats: ProcessStats
    ) async throws -> RunReport.Step {
        let recorder = Recorder()
        let drill = faultCommand.map {
            Fault(name: fault ?? "fault", at: faultAt, command: $0, restoreAfter: restoreCommand == nil ? nil : restoreAfter, restore: restoreCommand)
        }
        let before = stats.cpu()
        let wallStart = Recorder.now()
        if scenario.scenario == "connect" {
            var environment: [String: String] = [:]
            if let secret { environment["SWITCHBOARD_BENCH_SECRET"] = secret }
            if let tokenCommand { environment["SWITCHBOARD_BENCH_TOKEN_COMMAND"] = tokenCommand }
            let (connections, usage) = try await ConnectRun(
                scenario: scenario, fleet: fleet, recorder: recorder, stats: stats, processes: connectProcesses,
                workerArguments: ["--nodes", nodes, "--sources", sources, "--loops", "\(loops)"], workerEnvironment: environment,
                progress: { say($0) }
            ).run(cpuBefore: before)
            let snapshot = recorder.snapshot()
            return RunReport.Step(
                messagesPerSecond: 0, deliveriesPerSecond: 0, tally: snapshot.tally, sendToAck: RunReport.Latency(snapshot.ack),
                sendToDeliver: RunReport.Latency(snapshot.deliver), maxScheduleLagMilliseconds: 0, samples: [], marks: [],
                processes: usage, fault: nil, recoverySeconds: nil, missing: [], connections: connections, verdict: [])
        }
        let outcome = try await FanoutRun(
            scenario: scenario, rate: rate, fleet: fleet, recorder: recorder, fault: drill,
            progress: { sample, tally in
                let lost = tally.map { "  waiting for \($0.lost)" } ?? ""
                let ack = sample.ackP99Milliseconds.map { "  ack p99 \(fmt($0)) ms" } ?? ""
                let stolen = sample.stolenMilliseconds.flatMap { $0 > 0 ? "  host took \(fmt($0)) ms" : nil } ?? ""
                say("  \(sample.second)s  sent \(sample.sent)  delivered \(sample.delivered)  \(sample.rate)/s  p99 \(fmt(sample.p99Milliseconds)) ms\(ack)\(stolen)\(lost)")
            }
        ).run()
        let wall = Double(Recorder.now() - wallStart) / 1e9
        let snapshot = recorder.snapshot()
        var verdict: [String] = []
        let deliver = RunReport.Latency(snapshot.deliver)
        if snapshot.tally.lost > 0 { verdict.append("lost \(snapshot.tally.lost)") }
        if snapshot.tally.duplicatesShown > 0 { verdict.append("\(snapshot.tally.duplicatesShown) duplicates shown") }
        if deliver.p99 > scenario.p99LimitMilliseconds {
            verdict.append("p99 \(fmt(deliver.p99)) ms > \(fmt(scenario.p99LimitMilliseconds)) ms" + Self.hostShare(snapshot.samples, limit: scenario.p99LimitMilliseconds, warmup: scenario.warmupSeconds))
        }
        let lagMilliseconds = Double(snapshot.maxLag) / 1e6
        if lagMilliseconds > 100 { verdict.append("the senders fell \(fmt(lagMilliseconds)) ms behind schedule") }
        let errors = snapshot.tally.errors.values.reduce(0, +)
        // In a drill, errors are the fault's expected echo (unavailable while a store is down); loss is what counts.
        if errors > 0, drill == nil || strictErrors { verdict.append("\(errors) errors") }
        let unanswered = snapshot.tally.sent - snapshot.tally.acknowledged - errors
        if unanswered > 0, drill == nil || strictErrors { verdict.append("\(unanswered) requests never answered") }
        if drill != nil, recorder.recoverySeconds == nil { verdict.append("not every participant was delivered again after the fault") }
        return RunReport.Step(
            messagesPerSecond: rate, deliveriesPerSecond: Double(snapshot.tally.delivered) / max(outcome.deliverySeconds, 1e-9), tally: snapshot.tally,
            sendToAck: RunReport.Latency(snapshot.ack), sendToDeliver: deliver, maxScheduleLagMilliseconds: lagMilliseconds, samples: snapshot.samples,
            marks: snapshot.marks, processes: stats.usage(since: before, wallSeconds: wall), fault: drill, recoverySeconds: recorder.recoverySeconds,
            missing: recorder.missing(limit: 10), connections: nil, verdict: verdict)
    }
}

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Prints two results (JSON files of `run`) side by side.")

    @Argument var first: String
    @Argument var second: String

    func run() throws {
        let decoder = JSONDecoder()
        let a = try decoder.decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: first)))
        let b = try decoder.decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: second)))
        say(RunReport.compare(a, b, names: ((first as NSString).lastPathComponent, (second as NSString).lastPathComponent)))
    }
}

struct Summarize: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Sums up many results (JSON files of `run`) of one scenario step by step: how many runs reached and passed each step, the p99's spread.")

    @Argument(help: "Results of one scenario, e.g. bench/results/ramp-*.json.") var files: [String]

    func run() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one result") }
        let decoder = JSONDecoder()
        var runs: [RunSummary.Run] = []
        var scenarios: Set<String> = []
        for file in files {
            let report = try decoder.decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
            scenarios.insert(report.scenario.scenario)
            runs.append(RunSummary.Run(report))
        }
        guard scenarios.count == 1 else { throw ValidationError("the results are of several scenarios (\(scenarios.sorted().joined(separator: ", "))): sum up one at a time") }
        say(RunSummary(runs).table())
    }
}

/// Writes a line to standard output at once (unbuffered), so progress shows as it happens also when
/// the output is a file or a pipe.
func say(_ line: String = "") {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

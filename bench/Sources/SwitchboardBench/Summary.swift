import Foundation

/// Many runs of one scenario, step by step: on a host whose speed drifts, one ramp's verdict is
/// decided by a few milliseconds of one step, so a claim about a build is a count over runs ("clean
/// to 51,000 in 4 of 10"), and a comparison of two builds compares such counts and medians.
///
/// Runs are lined up by step number (a ramp's steps are the same rates in every run of one scenario;
/// a fixed-load run is one step). A step's figures are over the runs that reached it.
struct RunSummary: Sendable {
    /// What one step of one run contributes.
    struct StepFigures: Sendable, Equatable {
        var messagesPerSecond: Double
        var deliveriesPerSecond: Double
        var clean: Bool
        var p99Milliseconds: Double
        /// The measured processes' CPU but the harness's and the host's steal: the deployment's.
        var serverCores: Double?
    }

    /// One run: its steps in order, and the last clean step's deliveries per second (ramps).
    struct Run: Sendable {
        var steps: [StepFigures]
        var saturation: Double?
    }

    /// One step across the runs that reached it.
    struct Step: Sendable, Equatable {
        var index: Int
        var messagesPerSecond: Double
        var reached: Int
        var clean: Int
        /// Median deliveries per second of the runs that reached it.
        var deliveriesPerSecond: Double
        var p99: Spread
        /// Median CPU of the deployment's processes per delivery, in microseconds (nil when no process
        /// but the harness was measured).
        var serverMicrosecondsPerDelivery: Double?
    }

    /// Lowest, median and highest of some runs' values.
    struct Spread: Sendable, Equatable {
        var min: Double
        var median: Double
        var max: Double

        init?(_ values: [Double]) {
            let sorted = values.sorted()
            guard let first = sorted.first, let last = sorted.last else { return nil }
            min = first
            max = last
            let middle = sorted.count / 2
            median = sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
        }
    }

    var runs: Int
    /// Each run's saturation, lowest first (nil: not a ramp, or no step was clean).
    var saturations: [Double?]
    var steps: [Step]

    init(_ runs: [Run]) {
        self.runs = runs.count
        saturations = runs.map(\.saturation).sorted { ($0 ?? -1) < ($1 ?? -1) }
        let depth = runs.map(\.steps.count).max() ?? 0
        steps = (0..<depth).compactMap { index in
            let figures = runs.compactMap { $0.steps.indices.contains(index) ? $0.steps[index] : nil }
            guard let p99 = Spread(figures.map(\.p99Milliseconds)),
                let rate = Spread(figures.map(\.messagesPerSecond)),
                let deliveries = Spread(figures.map(\.deliveriesPerSecond))
            else { return nil }
            let perDelivery = figures.compactMap { step in
                step.serverCores.flatMap { step.deliveriesPerSecond > 0 ? $0 / step.deliveriesPerSecond * 1e6 : nil }
            }
            return Step(
                index: index + 1, messagesPerSecond: rate.median, reached: figures.count, clean: figures.filter(\.clean).count,
                deliveriesPerSecond: deliveries.median, p99: p99, serverMicrosecondsPerDelivery: Spread(perDelivery)?.median)
        }
    }

    /// The table `switchboard-bench summary` prints.
    func table() -> String {
        var lines = ["\(runs) run(s)"]
        if saturations.contains(where: { $0 != nil }) {
            let counts = Dictionary(grouping: saturations.compactMap { $0 }, by: { Self.bucket($0) }).mapValues(\.count)
            let parts = counts.keys.sorted().map { "\(fmt($0)): \(counts[$0] ?? 0)" }
            let none = saturations.filter { $0 == nil }.count
            lines.append("saturation (deliveries/s: runs) " + parts.joined(separator: ", ") + (none > 0 ? ", none clean: \(none)" : ""))
        }
        lines.append("")
        lines.append("step | msg/s | deliv/s (median) | reached | clean | send→deliver p99 min/median/max (ms) | servers µs per delivery (median)")
        for step in steps {
            let cpu = step.serverMicrosecondsPerDelivery.map(fmt) ?? "-"
            lines.append(
                "\(step.index) | \(fmt(step.messagesPerSecond)) | \(fmt(step.deliveriesPerSecond)) | \(step.reached) | \(step.clean) | "
                    + "\(fmt(step.p99.min))/\(fmt(step.p99.median))/\(fmt(step.p99.max)) | \(cpu)")
        }
        return lines.joined(separator: "\n")
    }

    /// Saturations of one step differ by a few deliveries per second between runs: counted together
    /// at three significant figures.
    static func bucket(_ value: Double) -> Double {
        guard value > 0 else { return value }
        let scale = pow(10, floor(log10(value)) - 2)
        return (value / scale).rounded() * scale
    }
}

extension RunSummary.Run {
    init(_ report: RunReport) {
        saturation = report.saturation
        steps = report.steps.map { step in
            let servers = step.processes.filter { $0.name != ProcessStats.harness && $0.name != ProcessStats.stolen }
            return RunSummary.StepFigures(
                messagesPerSecond: step.messagesPerSecond, deliveriesPerSecond: step.deliveriesPerSecond, clean: step.verdict.isEmpty,
                p99Milliseconds: step.sendToDeliver.p99, serverCores: servers.isEmpty ? nil : servers.map(\.cores).reduce(0, +))
        }
    }
}

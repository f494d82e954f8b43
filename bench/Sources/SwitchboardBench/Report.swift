import BenchAccounting
import Foundation
import Histogram

/// A run's result: what was asked, what happened, and what every process spent. Written as JSON (the
/// exact command and settings included), printed as a table, drawn as a self-contained HTML page.
struct RunReport: Codable, Sendable {
    struct Latency: Codable, Sendable {
        var count: UInt64
        var p50: Double
        var p90: Double
        var p99: Double
        var p999: Double
        var max: Double
        /// (percentile, milliseconds) points of the whole distribution, for the percentile curve.
        var curve: [[Double]]

        init(_ histogram: Histogram<UInt64>) {
            func ms(_ percentile: Double) -> Double { histogram.totalCount == 0 ? 0 : Double(histogram.valueAtPercentile(percentile)) / 1000 }
            count = histogram.totalCount
            p50 = ms(50)
            p90 = ms(90)
            p99 = ms(99)
            p999 = ms(99.9)
            max = histogram.totalCount == 0 ? 0 : Double(histogram.max) / 1000
            curve = histogram.totalCount == 0 ? [] : histogram.percentiles(ticksPerHalfDistance: 5).map { [$0.percentileLevelIteratedTo, Double($0.value) / 1000] }
        }
    }

    /// What a `connect` run found.
    struct Connections: Codable, Sendable {
        var count: Int
        /// Time to open them all (each authenticated: its `welcome` received).
        var seconds: Double
        var perSecond: Double
        var harnessKilobytesPerConnection: Double
        /// Resident memory per connection, by measured process (its growth over the run).
        var kilobytesPerConnection: [String: Double]
    }

    /// One step of a `ramp`, or the one step of a `fanout`.
    struct Step: Codable, Sendable {
        var messagesPerSecond: Double
        var deliveriesPerSecond: Double
        var tally: Tally
        var sendToAck: Latency
        var sendToDeliver: Latency
        /// How far the senders fell behind their schedule, at most, in milliseconds.
        var maxScheduleLagMilliseconds: Double
        var samples: [Recorder.Sample]
        var marks: [Recorder.Mark]
        var processes: [ProcessStats.Usage]
        /// A drill's fault, and the seconds from it until every participant was delivered again.
        var fault: Fault?
        var recoverySeconds: Double?
        /// The first lost deliveries (conversation, seq, user), to look into.
        var missing: [Ledger.Missing]
        /// `connect`: the connect rate and memory per connection.
        var connections: Connections?
        /// Why this step is not clean (empty when it is).
        var verdict: [String]
    }

    var command: String
    var date: String
    var scenario: Scenario
    var nodes: [String]
    var harnessLoops: Int
    var steps: [Step]
    /// `ramp`: the highest clean step's deliveries per second.
    var saturation: Double?
    /// Said when the harness, not the node, was the limit.
    var warnings: [String]

    // MARK: Text

    func table() -> String {
        var lines: [String] = []
        let head = [
            "msg/s", "deliv/s", "sent", "acked", "delivered", "lost", "dup shown", "dup wire", "reconnects", "ack p50/p99",
            "deliver p50/p90/p99/p99.9/max (ms)", "errors",
        ]
        lines.append(head.joined(separator: " | "))
        for step in steps {
            let t = step.tally
            let d = step.sendToDeliver, a = step.sendToAck
            lines.append([
                fmt(step.messagesPerSecond), fmt(step.deliveriesPerSecond), "\(t.sent)", "\(t.acknowledged)", "\(t.delivered)", "\(t.lost)",
                "\(t.duplicatesShown)", "\(t.wireDuplicates)", "\(t.reconnects)", "\(fmt(a.p50))/\(fmt(a.p99))",
                "\(fmt(d.p50))/\(fmt(d.p90))/\(fmt(d.p99))/\(fmt(d.p999))/\(fmt(d.max))",
                t.errors.isEmpty ? "0" : t.errors.map { "\($0.key):\($0.value)" }.sorted().joined(separator: ","),
            ].joined(separator: " | "))
        }
        switch scenario.scenario {
        case "typing":
            lines.append(
                "(typing: sent and acked count signals, delivered the typing events seen; expected is acked × \(scenario.groupSize - 1), for signals after the warm-up; deliver latency is from the typist's signal)")
        case "history":
            lines.append(
                "(history: sent and acked count page reads, delivered the entries read; ack latency is a page read's; bad_page counts pages with a gap, a repeat or the wrong bounds)")
        default:
            break
        }
        for step in steps {
            guard let c = step.connections else { continue }
            lines.append("\nconnections: \(c.count) in \(fmt(c.seconds)) s = \(fmt(c.perSecond))/s; resident KiB per connection: "
                + c.kilobytesPerConnection.sorted { $0.key < $1.key }.map { "\($0.key) \(fmt($0.value))" }.joined(separator: ", ")
                + " (harness \(fmt(c.harnessKilobytesPerConnection)))")
        }
        if let last = steps.last, !last.processes.isEmpty {
            lines.append("")
            lines.append("process | CPU s | cores | RSS MiB")
            for usage in last.processes {
                lines.append("\(usage.name) | \(fmt(usage.cpuSeconds)) | \(fmt(usage.cores)) | \(fmt(usage.residentMiB))")
            }
        }
        if let saturation { lines.append("\nsaturation: \(fmt(saturation)) deliveries/s (the last clean step)") }
        for step in steps where step.fault != nil {
            let recovery = step.recoverySeconds.map { "\(fmt($0)) s" } ?? "not recovered"
            lines.append("\nfault '\(step.fault!.name)' at \(fmt(step.fault!.at)) s: recovery \(recovery), reconnects \(step.tally.reconnects)")
        }
        for step in steps where !step.verdict.isEmpty { lines.append("step \(fmt(step.messagesPerSecond)) msg/s: \(step.verdict.joined(separator: "; "))") }
        for step in steps where !step.missing.isEmpty {
            lines.append("lost (first \(step.missing.count)): " + step.missing.map { "\($0.conversation) seq \($0.seq) to \($0.user)" }.joined(separator: ", "))
        }
        for warning in warnings { lines.append("WARNING: \(warning)") }
        return lines.joined(separator: "\n")
    }

    // MARK: HTML

    func html() -> String {
        let title = "switchboard-bench \(scenario.scenario) — \(date)"
        var body = "<h1>\(escape(title))</h1><p><code>\(escape(command))</code></p>"
        body += "<pre>\(escape(table()))</pre>"
        for step in steps {
            body += "<h2>\(fmt(step.messagesPerSecond)) messages/s per conversation</h2>"
            let seconds = step.samples.map { Double($0.second) }
            body += chart(title: "deliveries per second (x: seconds)", xs: seconds, ys: step.samples.map { Double($0.rate) }, marks: step.marks, unit: "/s")
            body += chart(
                title: "p99 send→deliver per second (ms; x: seconds)", xs: seconds, ys: step.samples.map(\.p99Milliseconds), marks: step.marks, unit: "ms")
            let stolen = step.samples.map { $0.stolenMilliseconds ?? 0 }
            if stolen.contains(where: { $0 > 0 }) {
                body += chart(title: "CPU time the host took per second (ms, all CPUs; x: seconds)", xs: seconds, ys: stolen, marks: step.marks, unit: "ms")
            }
            let curve = step.sendToDeliver.curve
            // x: the percentile on a log scale of 1/(1-p), as latency percentile plots are drawn.
            let xs = curve.map { log10(1 / max(1e-6, 1 - $0[0] / 100)) }
            let ticks: [(Double, String)] = [
                (0, "0%"), (1, "90%"), (2, "99%"), (3, "99.9%"), (4, "99.99%"), (5, "99.999%"), (6, "99.9999%"),
            ]
            body += chart(title: "send→deliver latency by percentile", xs: xs, ys: curve.map { $0[1] }, marks: [], unit: "ms", ticks: ticks)
        }
        return """
            <!doctype html><html><head><meta charset="utf-8"><title>\(escape(title))</title>
            <style>body{font-family:sans-serif;margin:2em;max-width:1100px}pre{background:#f4f4f4;padding:1em;overflow:auto}
            svg{background:#fff;border:1px solid #ddd;margin:.5em 0}</style></head><body>\(body)</body></html>
            """
    }

    /// A line chart as inline SVG (no script, no network).
    private func chart(title: String, xs: [Double], ys: [Double], marks: [Recorder.Mark], unit: String, ticks: [(Double, String)] = []) -> String {
        let width = 1000.0, height = 260.0, left = 60.0, bottom = 30.0, top = 24.0
        guard let maxX = xs.max(), let maxY = ys.max(), xs.count == ys.count, !xs.isEmpty else {
            return "<p>\(escape(title)): no data</p>"
        }
        let minX = xs.min() ?? 0
        let spanX = max(maxX - minX, 1e-9), spanY = max(maxY, 1e-9)
        func px(_ x: Double) -> Double { left + (x - minX) / spanX * (width - left - 10) }
        func py(_ y: Double) -> Double { height - bottom - y / spanY * (height - bottom - top) }
        let points = zip(xs, ys).map { "\(fmt(px($0))),\(fmt(py($1)))" }.joined(separator: " ")
        var svg = "<svg width=\"\(Int(width))\" height=\"\(Int(height))\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<text x=\"\(left)\" y=\"16\" font-size=\"13\">\(escape(title))</text>"
        svg += "<line x1=\"\(left)\" y1=\"\(height - bottom)\" x2=\"\(width - 10)\" y2=\"\(height - bottom)\" stroke=\"#999\"/>"
        svg += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(height - bottom)\" stroke=\"#999\"/>"
        svg += "<text x=\"4\" y=\"\(top + 10)\" font-size=\"11\">\(fmt(maxY)) \(unit)</text><text x=\"4\" y=\"\(height - bottom)\" font-size=\"11\">0</text>"
        if ticks.isEmpty {
            svg += "<text x=\"\(left)\" y=\"\(height - 8)\" font-size=\"11\">\(fmt(minX))</text><text x=\"\(width - 60)\" y=\"\(height - 8)\" font-size=\"11\">\(fmt(maxX))</text>"
        }
        for (value, label) in ticks where value >= minX && value <= maxX {
            let anchor = px(value) > width - 50 ? "end" : "middle"
            svg += "<text x=\"\(fmt(px(value)))\" y=\"\(height - 8)\" font-size=\"11\" text-anchor=\"\(anchor)\">\(escape(label))</text>"
        }
        for mark in marks {
            let x = px(mark.second)
            svg += "<line x1=\"\(fmt(x))\" y1=\"\(top)\" x2=\"\(fmt(x))\" y2=\"\(height - bottom)\" stroke=\"#c00\" stroke-dasharray=\"4\"/>"
            svg += "<text x=\"\(fmt(x + 3))\" y=\"\(top + 12)\" font-size=\"11\" fill=\"#c00\">\(escape(mark.label))</text>"
        }
        svg += "<polyline fill=\"none\" stroke=\"#1565c0\" stroke-width=\"2\" points=\"\(points)\"/></svg>"
        return svg
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    // MARK: Compare

    /// Two runs side by side: the last step of each (for a ramp, also the saturation).
    static func compare(_ a: RunReport, _ b: RunReport, names: (String, String)) -> String {
        guard let x = a.steps.last, let y = b.steps.last else { return "nothing to compare" }
        var rows: [(String, String, String)] = [
            ("scenario", a.scenario.scenario, b.scenario.scenario),
            ("date", a.date, b.date),
            ("messages/s per conversation", fmt(x.messagesPerSecond), fmt(y.messagesPerSecond)),
            ("deliveries/s", fmt(x.deliveriesPerSecond), fmt(y.deliveriesPerSecond)),
            ("lost", "\(x.tally.lost)", "\(y.tally.lost)"),
            ("duplicates shown", "\(x.tally.duplicatesShown)", "\(y.tally.duplicatesShown)"),
            ("send→ack p99 ms", fmt(x.sendToAck.p99), fmt(y.sendToAck.p99)),
            ("send→deliver p50 ms", fmt(x.sendToDeliver.p50), fmt(y.sendToDeliver.p50)),
            ("send→deliver p99 ms", fmt(x.sendToDeliver.p99), fmt(y.sendToDeliver.p99)),
            ("send→deliver max ms", fmt(x.sendToDeliver.max), fmt(y.sendToDeliver.max)),
            ("recovery s", x.recoverySeconds.map(fmt) ?? "-", y.recoverySeconds.map(fmt) ?? "-"),
        ]
        if a.saturation != nil || b.saturation != nil {
            rows.append(("saturation deliveries/s", a.saturation.map(fmt) ?? "-", b.saturation.map(fmt) ?? "-"))
        }
        for name in Set(x.processes.map(\.name) + y.processes.map(\.name)).sorted() {
            let p = x.processes.first { $0.name == name }, q = y.processes.first { $0.name == name }
            rows.append(("\(name) cores", p.map { fmt($0.cores) } ?? "-", q.map { fmt($0.cores) } ?? "-"))
        }
        let width = rows.map(\.0.count).max() ?? 10
        let header = "".padding(toLength: width, withPad: " ", startingAt: 0) + " | \(names.0) | \(names.1)"
        return ([header] + rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + " | \($0.1) | \($0.2)" }).joined(separator: "\n")
    }
}

/// A number for people: at most three decimals, none when whole and large.
func fmt(_ value: Double) -> String {
    if value.isNaN || value.isInfinite { return "-" }
    if abs(value) >= 100 { return String(Int(value.rounded())) }
    return String(format: "%.3g", value)
}

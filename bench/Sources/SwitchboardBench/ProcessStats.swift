import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// CPU time and resident memory of the processes a run involves (the harness itself, nodes, Redis,
/// PostgreSQL), read from /proc. A named process counts with all its descendants: PostgreSQL serves
/// each connection from a child process.
struct ProcessStats: Sendable {
    struct Usage: Codable, Sendable {
        var name: String
        /// CPU seconds used during the run (user + system, the process and its descendants).
        var cpuSeconds: Double
        /// CPU used as a share of one core over the run's wall time (1.0 = one core busy).
        var cores: Double
        /// Resident memory at the end, in MiB.
        var residentMiB: Double
    }

    let processes: [(name: String, pid: Int32)]
    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    private let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))

    init(processes: [(name: String, pid: Int32)]) { self.processes = processes }

    /// The row of CPU time the hypervisor gave to other guests while this machine's CPUs wanted it
    /// (/proc/stat's steal column): on a shared host, a run with much of it is not comparable to one
    /// without, whatever its figures say.
    static let stolen = "stolen (host)"

    /// The harness's own process, measured beside the deployment's (and left out of its CPU).
    static let harness = "harness"

    /// CPU seconds of each named process tree now, and the machine's stolen seconds.
    func cpu() -> [String: Double] {
        let children = Self.childrenByParent()
        var result: [String: Double] = [:]
        for (name, pid) in processes {
            result[name] = Self.tree(pid, children).reduce(0) { $0 + cpuTicks($1) } / Self.ticksPerSecond
        }
        result[Self.stolen] = Self.stolenSeconds()
        return result
    }

    /// CPU seconds the host has taken from this machine so far, over all its CPUs (0 where /proc/stat
    /// does not say). Read once a second, it shows the host's bursts that a step's total hides.
    static func stolenSeconds() -> Double {
        stealTicks() / ticksPerSecond
    }

    /// The machine's stolen ticks so far, over all CPUs (the eighth number of /proc/stat's `cpu` line).
    private static func stealTicks() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first, line.hasPrefix("cpu ")
        else { return 0 }
        let fields = line.split(separator: " ").dropFirst()
        return fields.count > 7 ? Double(fields[fields.startIndex + 7]) ?? 0 : 0
    }

    /// Usage between `before` (from ``cpu()``) and now, over `wallSeconds`. A process that is gone
    /// (a drill killed or restarted it: the new one has another pid) is left out.
    func usage(since before: [String: Double], wallSeconds: Double) -> [Usage] {
        let now = cpu()
        let children = Self.childrenByParent()
        return processes.filter { Self.statFields($0.pid) != nil }.map { name, pid in
            let seconds = (now[name] ?? 0) - (before[name] ?? 0)
            let resident = Self.tree(pid, children).reduce(0) { $0 + residentPages($1) } * pageSize / 1_048_576
            return Usage(name: name, cpuSeconds: seconds, cores: wallSeconds > 0 ? seconds / wallSeconds : 0, residentMiB: resident)
        } + [stolenUsage(now, before, wallSeconds)]
    }

    private func stolenUsage(_ now: [String: Double], _ before: [String: Double], _ wallSeconds: Double) -> Usage {
        let seconds = max(0, (now[Self.stolen] ?? 0) - (before[Self.stolen] ?? 0))
        return Usage(name: Self.stolen, cpuSeconds: seconds, cores: wallSeconds > 0 ? seconds / wallSeconds : 0, residentMiB: 0)
    }

    /// Resident memory of each named process tree now, in MiB.
    func resident() -> [String: Double] {
        let children = Self.childrenByParent()
        var result: [String: Double] = [:]
        for (name, pid) in processes {
            result[name] = Self.tree(pid, children).reduce(0) { $0 + residentPages($1) } * pageSize / 1_048_576
        }
        return result
    }

    private func cpuTicks(_ pid: Int32) -> Double {
        guard let fields = Self.statFields(pid), fields.count > 12 else { return 0 }
        // After the command's closing parenthesis: field 14 (utime) and 15 (stime) are at 11 and 12.
        return (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
    }

    private func residentPages(_ pid: Int32) -> Double {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
        let parts = text.split(separator: " ")
        return parts.count > 1 ? Double(parts[1]) ?? 0 : 0
    }

    /// The fields of /proc/PID/stat after the command name (which may hold spaces).
    private static func statFields(_ pid: Int32) -> [Substring]? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        return text[text.index(after: close)...].split(separator: " ")
    }

    private static func childrenByParent() -> [Int32: [Int32]] {
        var result: [Int32: [Int32]] = [:]
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return result }
        for entry in entries {
            guard let pid = Int32(entry), let fields = statFields(pid), fields.count > 1, let parent = Int32(fields[1]) else { continue }
            result[parent, default: []].append(pid)
        }
        return result
    }

    private static func tree(_ root: Int32, _ children: [Int32: [Int32]]) -> [Int32] {
        var result: [Int32] = []
        var stack = [root]
        while let pid = stack.popLast() {
            result.append(pid)
            stack += children[pid] ?? []
        }
        return result
    }
}

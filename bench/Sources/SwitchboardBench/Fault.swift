import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A drill's fault: a shell command run `at` seconds into the send window (kill a node, stop Redis,
/// freeze PostgreSQL…), and optionally the command that undoes it `restoreAfter` seconds later. The
/// harness knows nothing of the deployment: `scripts/bench.sh drill` builds the commands.
struct Fault: Sendable, Codable {
    var name: String
    var at: Double
    var command: String
    var restoreAfter: Double?
    var restore: String?

    func run(recorder: Recorder, start: UInt64) async throws {
        try await sleep(until: start + UInt64(at * 1e9))
        recorder.fault(name)
        try await Self.shell(command)
        guard let restore, let restoreAfter else { return }
        try await Task.sleep(for: .seconds(restoreAfter))
        recorder.mark("restored")
        try await Self.shell(restore)
    }

    private func sleep(until deadline: UInt64) async throws {
        let now = Recorder.now()
        if deadline > now { try await Task.sleep(for: .nanoseconds(Int64(deadline - now))) }
    }

    /// Runs `/bin/sh -c command` and waits for the shell to exit, not for what it left running: a
    /// restored server keeps the descriptors it inherited, and Foundation's Process would wait for
    /// them to close. The wait happens on a Dispatch thread, off the concurrency pool.
    static func shell(_ command: String) async throws {
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                var pid: pid_t = 0
                let words: [String] = ["/bin/sh", "-c", command]
                let arguments: [UnsafeMutablePointer<CChar>?] = words.map { word in word.withCString { strdup($0) } } + [nil]
                defer { for argument in arguments { free(argument) } }
                let spawned = posix_spawn(&pid, "/bin/sh", nil, nil, arguments, environ)
                guard spawned == 0 else {
                    continuation.resume(throwing: BenchError("could not run the fault command: \(command)"))
                    return
                }
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1, errno == EINTR {}
                continuation.resume(returning: status)
            }
        }
        guard status == 0 else { throw BenchError("the fault command failed (status \(status)): \(command)") }
    }
}

import Synchronization

/// One async computation shared by every caller that asks for it while it runs: the first caller
/// runs it on its own task, the others wait for the same result; a caller after it ended runs the
/// next one. For re-reading what many callers find stale at once (a slot map, a Sentinel's primary
/// after a failover), which would otherwise be read once per caller.
///
/// Guarantees: no task of its own (the work runs in the leading caller, so it is cancelled with it
/// and ends with it); every waiter resumes exactly once. A waiter never gets the result of a leader
/// that was cancelled: it is told to try again, and one of the waiters then leads the next run.
final class SingleFlight<Value: Sendable>: Sendable {
    private enum Turn: Sendable {
        case lead
        case again
        case done(Result<Value, RedisError>)
    }

    /// nil: nothing runs; else the callers waiting for the run in progress.
    private let waiting = Mutex<[CheckedContinuation<Turn, Never>]?>(nil)

    /// Callers waiting for the run in progress (0 when none runs).
    var waiters: Int { waiting.withLock { $0?.count ?? 0 } }

    func run(_ body: () async throws(RedisError) -> Value) async throws(RedisError) -> Value {
        while true {
            let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
                let leads = waiting.withLock { waiting -> Bool in
                    guard waiting != nil else {
                        waiting = []
                        return true
                    }
                    waiting?.append(continuation)
                    return false
                }
                if leads { continuation.resume(returning: .lead) }
            }
            switch turn {
            case .done(let result): return try result.get()
            case .again: continue
            case .lead:
                let result: Result<Value, RedisError>
                do throws(RedisError) {
                    result = .success(try await body())
                } catch {
                    result = .failure(error)
                }
                let handOn: Turn = Task.isCancelled ? .again : .done(result)
                let waiters = waiting.withLock { waiting in
                    defer { waiting = nil }
                    return waiting ?? []
                }
                for waiter in waiters { waiter.resume(returning: handOn) }
                return try result.get()
            }
        }
    }
}

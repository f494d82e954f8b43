import ChatCore
import EventLoops
import Synchronization

/// Runs an operation with a deadline that holds even when the operation ignores cancellation.
///
/// Guarantees: the caller resumes exactly once, with the operation's result or, at the deadline, with
/// `unavailable`; at the deadline the operation is cancelled; when the operation finishes first, the timer
/// is cancelled, so nothing outlives the call.
///
/// The timer is a task scheduled on an event loop of NIO's shared group (the loops every connection
/// already runs on), not a sleeping Swift task: a store call costs one task (the operation), not two
/// and a dispatch timer.
enum Deadline {
    static func run<T: Sendable>(after timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = Outcome<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                outcome.wait(continuation)
                // An unstructured task (the caller must resume at the deadline even if the work
                // hangs), kept on the caller's event loop when it has one. It starts at once, here,
                // up to its first suspension (the request written to the database): a task that is
                // only enqueued waits behind everything else queued on a busy loop first.
                let work = Task.immediate(executorPreference: EventLoopExecutor.current) {
                    let result: Result<T, any Error>
                    do { result = .success(try await body()) } catch { result = .failure(error) }
                    outcome.finish(result)
                }
                let cancelTimer = eventLoopSchedule(timeout) {
                    if outcome.finish(.failure(ChatError.unavailable("the database did not answer in time; retry"))) { work.cancel() }
                }
                outcome.onFinish(cancelTimer)
            }
        } onCancel: {
            outcome.finish(.failure(CancellationError()))
        }
    }

    /// The one-shot meeting point of the operation, the timer and the caller.
    final class Outcome<T: Sendable>: Sendable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var result: Result<T, any Error>?
            var cleanup: (@Sendable () -> Void)?
        }
        private let state = Mutex(State())

        func wait(_ continuation: CheckedContinuation<T, any Error>) {
            let ready = state.withLock { state -> Result<T, any Error>? in
                if let result = state.result { return result }
                state.continuation = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }

        /// Registers what to do once finished (runs at once when already finished).
        func onFinish(_ cleanup: @escaping @Sendable () -> Void) {
            let now = state.withLock { state -> Bool in
                if state.result != nil { return true }
                state.cleanup = cleanup
                return false
            }
            if now { cleanup() }
        }

        /// Delivers `result` unless something was delivered first; true when this call delivered.
        @discardableResult
        func finish(_ result: Result<T, any Error>) -> Bool {
            let (continuation, cleanup, won) = state.withLock { state -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?, Bool) in
                guard state.result == nil else { return (nil, nil, false) }
                state.result = result
                defer {
                    state.continuation = nil
                    state.cleanup = nil
                }
                return (state.continuation, state.cleanup, true)
            }
            cleanup?()
            continuation?.resume(with: result)
            return won
        }
    }
}

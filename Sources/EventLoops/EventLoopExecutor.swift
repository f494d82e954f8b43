import NIOCore

/// Runs Swift tasks' jobs on one event loop. A task that prefers it (`withTaskExecutorPreference`)
/// runs between awaits on the thread that owns its socket, and resumes there from its I/O, instead
/// of hopping to the cooperative pool and back at every await: under load each such hop is a futex
/// wake and a context switch. A connection's task and the pub/sub consumer prefer their channel's
/// event loop. What runs on it must not block (the same rule as for any code on an event loop):
/// awaits are fine, a blocking call is not.
public final class EventLoopExecutor: TaskExecutor {
    public let loop: any EventLoop

    public init(_ loop: any EventLoop) { self.loop = loop }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        loop.execute { job.runSynchronously(on: executor) }
    }
}

extension EventLoopExecutor {
    /// The executor the current task prefers, when it was set by ``prefer(_:isolation:_:)``. Task
    /// locals reach unstructured tasks too, so code that must start one (a deadline that holds when
    /// the work ignores cancellation) can keep it on the same loop: `Task(executorPreference: current)`.
    @TaskLocal public static var current: EventLoopExecutor?

    /// Runs `body`, and the child tasks it starts, on `loop` (see the type's documentation).
    public static func prefer<T>(_ loop: any EventLoop, isolation: isolated (any Actor)? = #isolation, _ body: () async -> T) async -> T {
        let executor = EventLoopExecutor(loop)
        return await $current.withValue(executor, operation: {
            await withTaskExecutorPreference(executor, isolation: isolation, operation: body)
        }, isolation: isolation)
    }
}

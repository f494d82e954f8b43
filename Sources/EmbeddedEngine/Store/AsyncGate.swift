import ChatCore

/// Lets one task at a time through, in arrival order, without blocking a thread: the SQLite writer's
/// transactions go through it so that their statements never interleave. At most `maxWaiters` tasks
/// wait; one more is refused with `unavailable` instead of queueing without bound.
actor AsyncGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var head = 0
    private let maxWaiters: Int

    init(maxWaiters: Int) { self.maxWaiters = maxWaiters }

    /// Runs `body` alone; the gate opens for the next waiter when it returns or throws.
    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        if busy {
            guard waiters.count - head < maxWaiters else {
                throw ChatError.unavailable("the store is overloaded; retry")
            }
            await withCheckedContinuation { waiters.append($0) }
        } else {
            busy = true
        }
        defer { release() }
        return try await body()
    }

    private func release() {
        if head < waiters.count {
            let next = waiters[head]
            head += 1
            if head > 64, head * 2 > waiters.count {
                waiters.removeFirst(head)
                head = 0
            }
            next.resume()
        } else {
            busy = false
        }
    }
}

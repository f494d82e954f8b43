import Synchronization

/// One async computation shared by every caller that asks for it while it runs: the first caller
/// starts it, the others wait for the same result; a caller after it ended starts the next one. For
/// re-reading what many callers find stale at once (a slot map, a Sentinel's primary after a failover),
/// which would otherwise be read once per caller.
final class SingleFlight<Value: Sendable>: Sendable {
    private let running = Mutex<Task<Result<Value, RedisError>, Never>?>(nil)

    func run(_ body: @escaping @Sendable () async throws(RedisError) -> Value) async throws(RedisError) -> Value {
        let task = running.withLock { running in
            if let task = running { return task }
            let task = Task { [self] () -> Result<Value, RedisError> in
                defer { self.running.withLock { $0 = nil } }
                do throws(RedisError) {
                    return .success(try await body())
                } catch {
                    return .failure(error)
                }
            }
            running = task
            return task
        }
        return try await task.value.get()
    }
}

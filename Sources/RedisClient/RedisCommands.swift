/// What the engine asks of Redis, on one server (``RedisClient``) or a cluster (``RedisClusterClient``):
/// pipelines of commands, one command, a script. Error replies come back as values from `send` and are
/// thrown by `execute` and `run`.
public protocol RedisCommands: Sendable {
    /// Sends `commands` pipelined and returns one reply per command, in order.
    func send(_ commands: [RedisCommand]) async throws(RedisError) -> [RESPValue]
    /// Closes every connection; later calls fail with `closed`.
    func close()
}

extension RedisCommands {
    /// Runs one command; an error reply is thrown as ``RedisError/server(_:)``.
    @discardableResult
    public func execute(_ command: RedisCommand) async throws(RedisError) -> RESPValue {
        try await send([command])[0].checked()
    }

    /// Runs `script` (EVALSHA, then EVAL when the server does not know it yet); error replies are thrown.
    @discardableResult
    public func run(_ script: RedisScript, keys: [RedisArgument] = [], arguments: [RedisArgument] = []) async throws(RedisError) -> RESPValue {
        try await run(script, calls: [(keys, arguments)])[0]
    }

    /// Runs `script` once per call, pipelined (on a cluster, each on its keys' shard); the ones the
    /// server did not know yet are sent again by source. Returns the replies in order; the first error
    /// reply is thrown.
    public func run(_ script: RedisScript, calls: [(keys: [RedisArgument], arguments: [RedisArgument])]) async throws(RedisError) -> [RESPValue] {
        var replies = try await send(calls.map { script.evalsha(keys: $0.keys, arguments: $0.arguments) })
        let unknown = replies.indices.filter { index in
            if case .error(let message) = replies[index], message.hasPrefix("NOSCRIPT") { return true }
            return false
        }
        if !unknown.isEmpty {
            let again = try await send(unknown.map { script.eval(keys: calls[$0].keys, arguments: calls[$0].arguments) })
            for (index, reply) in zip(unknown, again) { replies[index] = reply }
        }
        return try replies.map { reply throws(RedisError) in try reply.checked() }
    }
}

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
        let reply = try await send([script.evalsha(keys: keys, arguments: arguments)])[0]
        if case .error(let message) = reply, message.hasPrefix("NOSCRIPT") {
            return try await send([script.eval(keys: keys, arguments: arguments)])[0].checked()
        }
        return try reply.checked()
    }
}

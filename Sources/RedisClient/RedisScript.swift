import Crypto

/// A Lua script run atomically by the server. Sent by its SHA-1 (EVALSHA) and, only when the server
/// does not have it cached (after a restart, say), by its source (EVAL), which caches it again.
public struct RedisScript: Sendable {
    public let source: String
    public let sha1: String

    public init(_ source: String) {
        self.source = source
        self.sha1 = Insecure.SHA1.hash(data: Array(source.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    func evalsha(keys: [RedisArgument], arguments: [RedisArgument]) -> RedisCommand {
        ["EVALSHA", RedisArgument(sha1), RedisArgument(keys.count)] + keys + arguments
    }

    func eval(keys: [RedisArgument], arguments: [RedisArgument]) -> RedisCommand {
        ["EVAL", RedisArgument(source), RedisArgument(keys.count)] + keys + arguments
    }
}

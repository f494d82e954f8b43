/// What can go wrong talking to Redis. Every case but `server` and `protocolViolation` means the
/// server could not be reached in time: the caller may retry later.
public enum RedisError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server answered with an error reply.
    case server(String)
    /// No connection: the server is down or unreachable (the client reconnects with backoff).
    case unavailable(String)
    /// The connection closed before the reply came; the command may or may not have run.
    case connectionClosed
    /// No reply within the configured timeout; the connection was closed.
    case timeout
    /// The server sent bytes that are not RESP2, or a reply of an unexpected shape; the connection was closed.
    case protocolViolation(String)
    /// The URL cannot be used.
    case invalidURL(String)
    /// The client was closed.
    case closed

    public var description: String {
        switch self {
        case .server(let message): "redis: \(message)"
        case .unavailable(let reason): "redis unavailable: \(reason)"
        case .connectionClosed: "redis connection closed before the reply"
        case .timeout: "redis did not answer in time"
        case .protocolViolation(let detail): "redis protocol violation: \(detail)"
        case .invalidURL(let detail): "invalid redis URL: \(detail)"
        case .closed: "redis client closed"
        }
    }
}

import ChatCore
import RedisClient

extension ChatError {
    /// The one place a Redis failure becomes a chat error: every failure to reach Redis in time is
    /// `unavailable` (retryable); an error reply or a broken protocol is `internal`.
    static func redis(_ error: any Error) -> ChatError {
        guard let error = error as? RedisError else { return ChatError.from(error) }
        switch error {
        case .unavailable, .connectionClosed, .timeout, .closed: return .unavailable(error.description)
        case .server, .protocolViolation, .invalidURL: return .internal(error.description)
        }
    }
}

/// Runs a Redis call, mapping its failure with ``ChatError/redis(_:)``.
@discardableResult
func mappingRedisErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        throw ChatError.redis(error)
    }
}

import ChatCore
import RedisClient

/// The ``ChangeFeed`` on Redis: the cache's invalidation commands and the broker's `PUBLISH` in one
/// pipelined request on one connection. Redis runs a connection's commands in order, so the keys are
/// invalidated before any node can receive the event, and a send pays one round trip for both instead
/// of two in a row. Each part's replies are checked apart: a failed invalidation does not hide a
/// publish that happened, nor the reverse; a request that never got its replies failed both.
public struct RedisChangeFeed: ChangeFeed {
    private let cache: RedisCache
    private let broker: RedisBroker

    /// `cache` and `broker` on the same Redis (the request goes through the cache's client).
    public init(cache: RedisCache, broker: RedisBroker) {
        self.cache = cache
        self.broker = broker
    }

    public func announce(_ envelope: Envelope, invalidating keys: [CacheKey]) async throws(ChangeFeedError) {
        let invalidation = cache.invalidation(of: keys)
        let replies: [RESPValue]
        do {
            replies = try await cache.client.send(invalidation + [broker.publication(of: envelope)])
        } catch {
            let failure = ChatError.redis(error)
            throw ChangeFeedError(invalidation: keys.isEmpty ? nil : failure, publish: failure)
        }
        var failure = ChangeFeedError()
        for reply in replies.dropLast() {
            if case .error(let message) = reply { failure.invalidation = ChatError.redis(RedisError.server(message)) }
        }
        if case .error(let message) = replies.last ?? .null { failure.publish = ChatError.redis(RedisError.server(message)) }
        if failure.invalidation != nil || failure.publish != nil { throw failure }
    }
}

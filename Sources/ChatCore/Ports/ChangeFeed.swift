/// Makes a stored change known to the cluster: invalidates the cache keys it made stale, then
/// publishes its event. The order is the guarantee: a node that receives the event and then reads one
/// of the keys from the cache never reads the value from before the change. An engine may do both in
/// one round trip (on Redis, one pipelined request: Redis runs a connection's commands in order).
///
/// A failed part does not stop the other (the publish is still attempted after a failed
/// invalidation, as a bare ``Broker`` publish would be): the error says which parts failed.
public protocol ChangeFeed: Sendable {
    func announce(_ envelope: Envelope, invalidating keys: [CacheKey]) async throws(ChangeFeedError)
}

/// Which parts of an announcement failed, and why.
public struct ChangeFeedError: Error, Sendable, CustomStringConvertible {
    /// The invalidation failed: cached values may be stale until their TTL.
    public var invalidation: ChatError?
    /// The publish failed: receivers repair from the store.
    public var publish: ChatError?

    public init(invalidation: ChatError? = nil, publish: ChatError? = nil) {
        self.invalidation = invalidation
        self.publish = publish
    }

    public var description: String {
        [invalidation.map { "invalidation: \($0)" }, publish.map { "publish: \($0)" }].compactMap { $0 }.joined(separator: "; ")
    }
}

/// The feed made of a cache and a broker: the invalidation, awaited, then the publish. What the
/// embedded engine uses (both in memory: nothing to save by pipelining).
public struct SequentialChangeFeed: ChangeFeed {
    let cache: any Cache
    let broker: any Broker

    public init(cache: any Cache, broker: any Broker) {
        self.cache = cache
        self.broker = broker
    }

    public func announce(_ envelope: Envelope, invalidating keys: [CacheKey]) async throws(ChangeFeedError) {
        var failure = ChangeFeedError()
        if !keys.isEmpty {
            do { try await cache.invalidate(keys) } catch { failure.invalidation = ChatError.from(error) }
        }
        do { try await broker.publish(envelope) } catch { failure.publish = ChatError.from(error) }
        if failure.invalidation != nil || failure.publish != nil { throw failure }
    }
}

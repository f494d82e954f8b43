import ChatCore

/// A ``ChangeFeed`` that counts what this node publishes through it (as ``MeteredBroker`` does for a
/// bare publish), then passes each call on unchanged.
public struct MeteredChangeFeed: ChangeFeed {
    let base: any ChangeFeed
    let metrics: NodeMetrics

    public init(_ base: any ChangeFeed, metrics: NodeMetrics) {
        self.base = base
        self.metrics = metrics
    }

    public func announce(_ envelope: Envelope, invalidating keys: [CacheKey]) async throws(ChangeFeedError) {
        do {
            try await base.announce(envelope, invalidating: keys)
        } catch {
            if error.publish == nil { metrics.published(envelope.kind) }
            throw error
        }
        metrics.published(envelope.kind)
    }
}

import ChatCore

/// A ``Broker`` that counts what this node publishes and subscribes (receipts are counted by the hub,
/// which receives them), then passes each call on unchanged.
public struct MeteredBroker: Broker {
    let base: any Broker
    let metrics: NodeMetrics

    public init(_ base: any Broker, metrics: NodeMetrics) {
        self.base = base
        self.metrics = metrics
    }

    public func publish(_ envelope: Envelope) async throws {
        try await base.publish(envelope)
        metrics.published(envelope.kind)
    }

    public func subscribe(_ channel: Channel) async throws {
        try await base.subscribe(channel)
        metrics.subscription("subscribe")
    }

    public func unsubscribe(_ channel: Channel) async throws {
        try await base.unsubscribe(channel)
        metrics.subscription("unsubscribe")
    }
}

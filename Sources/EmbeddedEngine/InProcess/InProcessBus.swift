import ChatCore
import Synchronization

/// The in-process stand-in for a Redis server's pub/sub: every ``InProcessBroker`` made on one bus is a
/// node, and a publish reaches the handlers of every node subscribed to the channel, synchronously and
/// in publish order. Several nodes in one process share a bus in tests.
public final class InProcessBus: Sendable {
    private struct State {
        var handlers: [NodeID: EnvelopeHandler] = [:]
        var subscribers: [Channel: Set<NodeID>] = [:]
    }
    private let state = Mutex(State())

    public init() {}

    /// A broker for `node` whose deliveries go to `handler`.
    public func broker(node: NodeID, handler: @escaping EnvelopeHandler) -> InProcessBroker {
        state.withLock { $0.handlers[node] = handler }
        return InProcessBroker(bus: self, node: node)
    }

    func publish(_ envelope: Envelope) {
        let targets = state.withLock { state in
            (state.subscribers[envelope.channel] ?? []).compactMap { state.handlers[$0] }
        }
        for handler in targets { handler(envelope) }
    }

    func subscribe(_ node: NodeID, _ channel: Channel) {
        state.withLock { _ = $0.subscribers[channel, default: []].insert(node) }
    }

    func unsubscribe(_ node: NodeID, _ channel: Channel) {
        state.withLock { state in
            state.subscribers[channel]?.remove(node)
            if state.subscribers[channel]?.isEmpty == true { state.subscribers[channel] = nil }
        }
    }

    func detach(_ node: NodeID) {
        state.withLock { state in
            state.handlers[node] = nil
            for channel in Array(state.subscribers.keys) {
                state.subscribers[channel]?.remove(node)
                if state.subscribers[channel]?.isEmpty == true { state.subscribers[channel] = nil }
            }
        }
    }

    /// How many channels have at least one subscriber (for tests of reference counting).
    public var channelCount: Int { state.withLock { $0.subscribers.count } }

    /// True when `node` is subscribed to `channel`.
    public func isSubscribed(_ node: NodeID, _ channel: Channel) -> Bool {
        state.withLock { $0.subscribers[channel]?.contains(node) ?? false }
    }
}

/// The embedded ``Broker``: one node's handle on an ``InProcessBus``. Delivery is synchronous and
/// lossless in process; the contract still allows loss, so the node's gap repair stays exercised by
/// the Redis engine alone.
public struct InProcessBroker: Broker {
    let bus: InProcessBus
    public let node: NodeID

    public func publish(_ envelope: Envelope) async throws { bus.publish(envelope) }
    public func subscribe(_ channel: Channel) async throws { bus.subscribe(node, channel) }
    public func unsubscribe(_ channel: Channel) async throws { bus.unsubscribe(node, channel) }

    /// Drops every subscription of this node and its handler (the node stopped).
    public func detach() { bus.detach(node) }
}

/// What a sharded pub/sub link must do so that every wanted channel is subscribed on the primary that
/// serves its slot, and nothing else is: the pure half of ``RedisShardedSubscriber`` (it executes it).
///
/// Guarantees: a wanted channel that is not confirmed on its slot's primary is in ``subscribe`` under
/// that primary; a confirmed channel that is no longer wanted, or whose slot another node serves now,
/// is in ``unsubscribe`` under the node it is confirmed on (and, when still wanted, counted in
/// ``moved``); a link left with no channel is in ``close``; a wanted channel whose slot no primary
/// serves is in ``unrouted`` (the cluster is mid-failover: try again). Each node's channels are in the
/// order of their names, so the plan is the same for the same inputs.
public struct ShardedSubscriptionPlan: Sendable, Equatable {
    public var subscribe: [ClusterNodeAddress: [String]] = [:]
    public var unsubscribe: [ClusterNodeAddress: [String]] = [:]
    public var close: Set<ClusterNodeAddress> = []
    public var unrouted: [String] = []
    /// Wanted channels confirmed on a node that no longer serves their slot: what they carried since
    /// the slot left may be missing.
    public var moved = 0

    /// `confirmed` holds, for each node with a live link, the channels it confirmed.
    public init(wanted: Set<String>, confirmed: [ClusterNodeAddress: Set<String>], topology: ClusterTopology) {
        var home: [String: ClusterNodeAddress] = [:]
        for channel in wanted.sorted() {
            guard let primary = topology.primary(of: ClusterSlot(key: Array(channel.utf8))) else {
                unrouted.append(channel)
                continue
            }
            home[channel] = primary
            if confirmed[primary]?.contains(channel) != true { subscribe[primary, default: []].append(channel) }
        }
        for (node, channels) in confirmed {
            var kept = 0
            for channel in channels.sorted() {
                if let primary = home[channel], primary == node {
                    kept += 1
                    continue
                }
                unsubscribe[node, default: []].append(channel)
                if wanted.contains(channel) { moved += 1 }
            }
            if kept == 0, subscribe[node] == nil { close.insert(node) }
        }
    }

    /// True when there is nothing to do: every wanted channel is where it belongs.
    public var isSettled: Bool { subscribe.isEmpty && unsubscribe.isEmpty && close.isEmpty && unrouted.isEmpty }
}

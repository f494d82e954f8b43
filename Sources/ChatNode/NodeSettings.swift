import ChatCore

/// What the node runtime needs to know about itself, with defaults. Loaded from configuration by
/// NodeBootstrap; every field is documented in docs/operations.md.
public struct NodeSettings: Sendable {
    /// This node's identity in the cluster (unique per process start).
    public var nodeID: NodeID
    /// Limits on what clients send.
    public var limits: Limits
    /// How long a cached first page of a conversation list lives.
    public var listCacheTTL: Duration = .seconds(60)
    /// How long a conversation's cached activity (last seq, last activity, preview) lives.
    public var activityCacheTTL: Duration = .seconds(60)
    /// How long a relay waits for a missing seq before reading it from the store.
    public var gapRepairDelay: Duration = .milliseconds(500)
    /// How often the hub looks for gaps to repair.
    public var gapRepairInterval: Duration = .milliseconds(100)
    /// Out-of-order events a relay holds per conversation before repairing at once.
    public var maxPendingPerConversation: Int = 1000
    /// Shards of the hub's data plane (by conversation): deliveries to conversations of different
    /// shards never wait for each other's lock.
    public var hubShards: Int = 64
    /// Pending control operations (connects, disconnects, joins) before new ones are refused.
    public var controlQueueCapacity: Int = 10_000
    /// A user's typing signals in one conversation are passed on at most once per this interval.
    public var typingThrottle: Duration = .seconds(2)
    /// How long clients show someone as typing after their last typing event.
    public var typingExpiry: Duration = .seconds(5)
    /// Bounds how long a vanished connection still counts as online: the node renews its live
    /// connections' entries every quarter of it and each entry lives three quarters of it, so presence
    /// is never stale longer than this.
    public var presenceTTL: Duration = .seconds(30)
    /// How long a support agent may be gone (no connection anywhere) before the requests they hold
    /// without having replied go back to the queue.
    public var supportRequeueAfter: Duration = .seconds(60)

    public init(nodeID: NodeID, limits: Limits = Limits()) {
        self.nodeID = nodeID
        self.limits = limits
    }
}

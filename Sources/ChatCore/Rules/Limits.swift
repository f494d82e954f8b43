/// Every limit the node enforces on what clients send. A `Sendable` value with documented defaults;
/// configuration overrides each field (see docs/operations.md and the README's table).
public struct Limits: Sendable, Hashable {
    /// Largest WebSocket message (a whole JSON frame) the node reads, in bytes. A larger one is
    /// answered with a `validation` error and the connection stays open.
    public var maxFrameBytes: Int = 64 * 1024
    /// Hard transport cap in bytes for one WebSocket frame; past it the socket is closed with 1009.
    public var maxTransportFrameBytes: Int = 1024 * 1024
    /// Largest message content in bytes (UTF-8).
    public var maxContentBytes: Int = 16 * 1024
    /// Largest metadata, encoded as JSON, in bytes.
    public var maxMetadataBytes: Int = 4 * 1024
    /// Longest group title in characters.
    public var maxTitleLength: Int = 200
    /// Most participants in one group.
    public var maxGroupParticipants: Int = 1000
    /// Largest page of history or conversations a client may ask for.
    public var maxPageSize: Int = 200
    /// The page size used when a client names none.
    public var defaultPageSize: Int = 50
    /// How long a WebSocket client that presented no token may take to send its `auth` frame.
    public var authDeadline: Duration = .seconds(10)
    /// Frames queued for one connection before it is treated as a slow consumer and closed.
    public var outboundQueueFrames: Int = 1024
    /// How long a slow consumer's 4002 close frame may wait for its socket to drain; past it the
    /// socket is dropped without one. A resume whose queue does not drain to half within this time
    /// also makes the connection a slow consumer.
    public var slowConsumerCloseGrace: Duration = .seconds(5)
    /// Largest HTTP request body in bytes.
    public var maxRequestBodyBytes: Int = 64 * 1024
    /// Largest reaction (an emoji or short code) in bytes.
    public var maxReactionLength: Int = 64
    /// Most users one presence query may name.
    public var maxPresenceQueryUsers: Int = 200
    /// Messages (posts, edits, deletions, reactions) one user may send per second, on average.
    public var messagesPerSecond: Double = 20
    /// How many messages a user may send at once before `messagesPerSecond` applies.
    public var messageBurst: Int = 40
    /// In cluster mode, the most tokens a node takes from a user's shared bucket at once and spends
    /// locally (``LeasedRateLimit`` in ChatNode; never more than an eighth of `messageBurst`). 1: every
    /// message asks the bucket.
    public var messageLease: Int = 8
    /// How long a node may spend a lease's tokens before they lapse.
    public var messageLeaseTime: Duration = .seconds(1)
    /// Sends (`message.send`) one WebSocket connection may have in flight: they are stored in the order
    /// sent and their commits overlap; each reply names its request in `re`. 1: one request at a time.
    public var sendsInFlight: Int = 32
    /// Live WebSocket connections one user may hold on one node; the next is closed with 4003.
    public var connectionsPerUser: Int = 20

    public init() {}

    /// The page size to use for a request that asked for `requested`.
    public func pageSize(_ requested: Int?) throws(ChatError) -> Int {
        guard let requested else { return defaultPageSize }
        guard requested >= 1, requested <= maxPageSize else {
            throw .validation("limit must be between 1 and \(maxPageSize)")
        }
        return requested
    }
}

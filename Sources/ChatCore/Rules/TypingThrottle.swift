/// Lets through at most one typing signal per user and conversation per `interval`. A pure value:
/// the caller holds it (under a lock) and passes the time in.
///
/// Guarantees: memory is bounded by `capacity` entries; when full, entries older than `interval`
/// are dropped, and if none are, the signal is let through unrecorded (typing is advisory: failing
/// open costs a few extra events, never a lost message).
public struct TypingThrottle: Sendable {
    private struct Key: Hashable {
        var user: UserID
        var conversation: ConversationID
    }
    private var last: [Key: Timestamp] = [:]
    public let interval: Duration
    public let capacity: Int

    public init(interval: Duration, capacity: Int = 100_000) {
        self.interval = interval
        self.capacity = max(capacity, 1)
    }

    /// True when `user` may signal typing in `conversation` at `now` (and records it).
    public mutating func allow(_ user: UserID, in conversation: ConversationID, now: Timestamp) -> Bool {
        let key = Key(user: user, conversation: conversation)
        if let previous = last[key], now < previous.advanced(by: interval) { return false }
        if last[key] == nil, last.count >= capacity {
            last = last.filter { now < $0.value.advanced(by: interval) }
            if last.count >= capacity { return true }
        }
        last[key] = now
        return true
    }
}

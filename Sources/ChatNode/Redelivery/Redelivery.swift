import ChatCore
import Logging

/// The `redeliver` job: brings a connected user's devices, again, what they have not acknowledged.
///
/// When a user's connection comes up on any node, and again when its catch-up from the store ends,
/// ``schedule(for:)`` schedules the user's job `delay` later, replacing a pending one (one pending job
/// per user). The job (``handle(_:)``) stops
/// when the user has no live connection (away notices are for them) or when every conversation's
/// delivered watermark has reached its newest seq (the user's own entries need no receipt). Otherwise
/// it publishes, on the user's channel, the others' entries after the watermark (a page per
/// conversation), which every node holding one of the user's
/// connections writes to it as the `message.new`… events they are, and fails, so the ``JobRunner``
/// tries again on the `redeliver` kind's backoff. The watermark moves only by the user's own
/// `receipt.mark`, so nothing is taken as delivered that was not acknowledged. After the last attempt
/// the job goes to the dead letters, and an away notice naming the user (as away, whatever their
/// presence: their devices did not take the entries) is scheduled for each conversation still behind.
///
/// Devices see an entry more than once this way; they keep one per (conversation, seq) (the protocol's
/// delivery guarantee; the SDK's ``ChatSession`` does).
public struct Redelivery: Sendable {
    public static let kind = "redeliver"

    /// What still needs a receipt: thrown to have the runner try again later.
    struct Unacknowledged: Error, CustomStringConvertible {
        var conversations: Int
        var description: String { "\(conversations) conversation(s) not acknowledged yet" }
    }

    private let queue: any JobQueue
    private let store: any ChatStore
    private let presence: any Presence
    private let publisher: EventPublisher
    private let notices: AwayNotices?
    private let clock: any WallClock
    private let delay: Duration
    private let policy: RetryPolicy
    private let pageSize: Int
    private let logger: Logger

    /// - Parameters:
    ///   - delay: how long after a connection comes up the first check runs.
    ///   - policy: the `redeliver` kind's retry policy (its last attempt schedules the away notices).
    public init(
        queue: any JobQueue, store: any ChatStore, presence: any Presence, publisher: EventPublisher, notices: AwayNotices?,
        clock: any WallClock, delay: Duration, policy: RetryPolicy, pageSize: Int, logger: Logger
    ) {
        self.queue = queue
        self.store = store
        self.presence = presence
        self.publisher = publisher
        self.notices = notices
        self.clock = clock
        self.delay = delay
        self.policy = policy
        self.pageSize = max(1, pageSize)
        self.logger = logger
    }

    /// A connection of `user` came up, or its catch-up ended: their check runs `delay` from now
    /// (replacing a pending one: after a long catch-up, the next check counts from its end).
    public func schedule(for user: UserID) async {
        do {
            try await queue.replace(
                Job(id: "\(Self.kind):\(user.rawValue)", kind: Self.kind, payload: Array(user.rawValue.utf8)), due: clock.now().advanced(by: delay))
        } catch {
            logger.warning("could not schedule a redelivery check", metadata: ["user": "\(user)", "error": "\(error)"])
        }
    }

    /// Runs one check (see the type's documentation); throws while something is not acknowledged.
    public func handle(_ job: Job) async throws {
        guard let user = UserID(String(decoding: job.payload, as: UTF8.self)) else { return }
        guard try await presence.status(of: [user]).first?.online == true else { return }
        var behind: [ConversationID] = []
        for (conversation, position) in try await store.memberships(of: user) where position.deliveredSeq < position.lastSeq {
            // The user's own entries need no receipt: they have them (their send was answered).
            let owed = try await store.messages(in: conversation, HistoryQuery(after: position.deliveredSeq, limit: pageSize)).messages
                .filter { $0.sender != user }
            guard !owed.isEmpty else { continue }
            try await publisher.redeliver(owed, to: user)
            behind.append(conversation)
        }
        guard !behind.isEmpty else { return }
        if job.attempt + 1 >= policy.maxAttempts, let notices {
            for conversation in behind { await notices.unacknowledged(by: user, in: conversation) }
        }
        throw Unacknowledged(conversations: behind.count)
    }
}

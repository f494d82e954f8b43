import ChatCore
import Logging
import Synchronization

/// Tells people about posts they missed while away (seed 000's moderator who gets an e-mail).
///
/// Every stored post calls ``postStored(in:)``, which schedules the `notify` job of its
/// conversation and time window: windows are `delay` long and aligned to the clock, the job is due
/// when its window ends, and posts of the same window join it (enqueueing a pending id changes
/// nothing): a debounce per conversation. A post made while its window's job already runs belongs
/// to the next window, so no post goes unnoticed because a job had read the state just before it.
/// The job (``handle(_:)``) reads the conversation and presence then, picks the recipients with
/// ``AwayRules`` (confirmed by a second read of the conversation made after presence, so that
/// someone who acknowledged the posts and then left is not told of them), and hands one
/// ``AwayNotice`` to the ``AwayNotifier``; a failed delivery is retried by the ``JobRunner`` with
/// backoff. The notice's id is its conversation and window, so every attempt carries the same id
/// and a gateway that accepted an attempt but failed to answer drops the repeat; the retry reads
/// the state again, so it carries what came meanwhile (which the next window's notice tells as
/// well).
///
/// A node enqueues each conversation's window once: it remembers the windows it scheduled (the current
/// ones only, at most `rememberedWindows` conversations), so the posts after the first in a window cost
/// no round trip to the queue. A failed enqueue is not remembered: the next post tries again.
public struct AwayNotices: Sendable {
    public static let kind = "notify"

    private let queue: any JobQueue
    private let store: any ChatStore
    private let presence: any Presence
    private let notifier: any AwayNotifier
    private let clock: any WallClock
    private let delay: Duration
    private let logger: Logger
    private let scheduled: ScheduledWindows

    public init(
        queue: any JobQueue, store: any ChatStore, presence: any Presence, notifier: any AwayNotifier, clock: any WallClock,
        delay: Duration, logger: Logger, rememberedWindows: Int = 10_000
    ) {
        self.scheduled = ScheduledWindows(capacity: rememberedWindows)
        self.queue = queue
        self.store = store
        self.presence = presence
        self.notifier = notifier
        self.clock = clock
        self.delay = delay
        self.logger = logger
    }

    /// A post was stored in `conversation`: make sure a notice is scheduled. Never fails the send.
    public func postStored(in conversation: ConversationID) async {
        let length = max(delay.wholeMilliseconds, 1)
        let start = clock.now().milliseconds / length * length
        // The payload names the conversation and the window (an id has no spaces).
        guard !scheduled.contains(conversation, window: start) else { return }
        let job = Job(id: "\(Self.kind):\(conversation.rawValue):\(start)", kind: Self.kind, payload: Array("\(conversation.rawValue) \(start)".utf8))
        do {
            try await queue.enqueue(job, due: Timestamp(milliseconds: start + length))
            scheduled.insert(conversation, window: start)
        } catch {
            logger.warning("could not schedule an away notice", metadata: ["conversation": "\(conversation)", "error": "\(error)"])
        }
    }

    /// A device of `user` never acknowledged what `conversation` holds (the `redeliver` job gave up):
    /// a notice names them now, as away whatever their presence says. Never fails the caller.
    public func unacknowledged(by user: UserID, in conversation: ConversationID) async {
        let now = clock.now()
        let job = Job(
            id: "\(Self.kind):\(conversation.rawValue):\(now.milliseconds):\(user.rawValue)", kind: Self.kind,
            payload: Array("\(conversation.rawValue) \(now.milliseconds) \(user.rawValue)".utf8))
        do {
            try await queue.enqueue(job, due: now)
        } catch {
            logger.warning("could not schedule an away notice", metadata: ["conversation": "\(conversation)", "error": "\(error)"])
        }
    }

    /// The `notify` job's handler.
    public func handle(_ job: Job) async throws {
        // "conversation window-start [user]": with a user, a notice for that user alone, who counts as
        // away (``unacknowledged(by:in:)``). A job scheduled by an older node names the conversation
        // alone and ends its id with the window's index: the start follows from it, the same on every attempt.
        let fields = String(decoding: job.payload, as: UTF8.self).split(separator: " ")
        let length = max(delay.wholeMilliseconds, 1)
        guard let first = fields.first, let id = ConversationID(String(first)),
            let start = fields.count >= 2 ? Int64(fields[1]) : job.id.split(separator: ":").last.flatMap({ Int64($0) }).map({ $0 * length }),
            let conversation = try await store.conversation(id),
            let activity = try await store.activity(of: id)
        else { return }
        let only = fields.count == 3 ? UserID(String(fields[2])) : nil
        let asked = conversation.participants.map(\.user)
        let statuses = try await presence.status(of: asked)
        let seen = Set(asked)
        var online = Set(statuses.filter(\.online).map(\.user))
        if let only { online.remove(only) }
        func recipients(_ conversation: Conversation, _ activity: ConversationActivity) -> [NoticeRecipient] {
            AwayRules.recipients(of: conversation, newestPostBy: activity.lastPost?.sender, online: online)
                .filter { only == nil ? seen.contains($0.user) : $0.user == only }
        }
        guard !recipients(conversation, activity).isEmpty else { return }
        // The state was read before presence: a participant who acknowledged the posts and then left in
        // between reads as away in presence and behind in that state. What a device acknowledged before
        // its connection ended is in a read made after presence, so the notice is made from one (only
        // people whose presence was read can be named).
        guard let now = try await store.conversation(id), let newest = try await store.activity(of: id) else { return }
        let named = recipients(now, newest)
        guard !named.isEmpty else { return }
        try await notifier.deliver(AwayNotice(window: Timestamp(milliseconds: start), conversation: now, lastPost: newest.lastPost, recipients: named))
        logger.debug("away notice delivered", metadata: ["conversation": "\(id)", "recipients": "\(named.count)"])
    }
}

/// The notice windows this node has scheduled: each conversation's latest, at most `capacity`
/// conversations. When full, windows older than the one being added go first (their jobs are due or
/// done), then everything (a forgotten window only costs one more enqueue, which changes nothing).
final class ScheduledWindows: Sendable {
    private let windows: Mutex<BoundedTable<ConversationID, Int64>>

    init(capacity: Int) { windows = Mutex(BoundedTable(capacity: capacity)) }

    func contains(_ conversation: ConversationID, window start: Int64) -> Bool {
        windows.withLock { $0[conversation] == start }
    }

    func insert(_ conversation: ConversationID, window start: Int64) {
        windows.withLock { windows in
            if !windows.makeRoom(for: conversation, droppingWhere: { $0 < start }) { windows.removeAll() }
            windows[conversation] = max(windows[conversation] ?? start, start)
        }
    }

    var count: Int { windows.withLock { $0.count } }
}

/// Someone who gets an ``AwayNotice``: a participant with no live connection anywhere, who has not
/// received the conversation's newest entries.
public struct NoticeRecipient: Sendable, Hashable {
    public var user: UserID
    /// Everything up to this seq reached one of the user's devices; the notice is about what follows.
    public var deliveredSeq: Seq

    public init(user: UserID, deliveredSeq: Seq) {
        self.user = user
        self.deliveredSeq = deliveredSeq
    }
}

/// "New posts while you were away": one notice per conversation per debounce window, naming every
/// recipient, for a gateway that turns it into e-mails or pushes.
///
/// Guarantees: `id` is the same for every delivery attempt of one notice (the conversation and its
/// window), so a receiver drops repeats by it, and differs between notices; notices of one
/// conversation carry a `lastSeq` that never decreases.
public struct AwayNotice: Sendable, Hashable {
    /// The delivery id: the conversation and the start of the notice's window (milliseconds since the
    /// epoch), `c_…:1764489600000`. One notice per conversation and window, so the id is unique per
    /// notice, and every attempt to deliver it carries it unchanged.
    public var id: String { "\(conversation.id.rawValue):\(window.milliseconds)" }
    /// When the window whose posts this notice tells of began.
    public var window: Timestamp
    public var conversation: Conversation
    /// The newest post as list previews show it (its content is opaque: it may be ciphertext).
    public var lastPost: Message?
    public var recipients: [NoticeRecipient]

    public init(window: Timestamp, conversation: Conversation, lastPost: Message?, recipients: [NoticeRecipient]) {
        self.window = window
        self.conversation = conversation
        self.lastPost = lastPost
        self.recipients = recipients
    }

    /// The seq the notice covers entries up to.
    public var lastSeq: Seq { conversation.lastSeq }
}

/// Where away notices go (a signed webhook in production). A throw means "not delivered": the job that
/// sends it retries with backoff, so implementations report every failure and never retry themselves.
public protocol AwayNotifier: Sendable {
    func deliver(_ notice: AwayNotice) async throws
}

/// A pub/sub channel between nodes. Conversation channels carry a conversation's events (messages,
/// membership changes); user channels carry user-scoped events (you joined, you left); a workspace's
/// desk channel carries its support queue's events to its agents; the presence channel, which every
/// node subscribes to, carries each user's online and offline transitions.
///
/// Names are Redis-Cluster friendly: the id sits in a hash tag, so SPUBLISH can shard them.
public enum Channel: Hashable, Sendable, CustomStringConvertible {
    case conversation(ConversationID)
    case user(UserID)
    case desk(WorkspaceID)
    case presence

    /// The channel name under `prefix`, e.g. `sb:c:{c_123}`, `sb:u:{alice}`, `sb:w:{acme}` or `sb:p:{all}`.
    public func name(prefix: String) -> String {
        switch self {
        case .conversation(let id): "\(prefix):c:{\(id.rawValue)}"
        case .user(let id): "\(prefix):u:{\(id.rawValue)}"
        case .desk(let id): "\(prefix):w:{\(id.rawValue)}"
        case .presence: "\(prefix):p:{all}"
        }
    }

    /// Parses a name made by ``name(prefix:)``.
    public init?(name: String, prefix: String) {
        // "<prefix>:<kind>:{<id>}", read as bytes (every pub/sub message's channel is parsed here).
        var name = name, prefix = prefix
        let parsed = name.withUTF8 { name in
            prefix.withUTF8 { prefix -> (kind: UInt8, id: String)? in
                let idStart = prefix.count + 4
                guard name.count > idStart, name[name.count - 1] == UInt8(ascii: "}"), name.starts(with: prefix),
                    name[prefix.count] == UInt8(ascii: ":"), name[prefix.count + 2] == UInt8(ascii: ":"),
                    name[prefix.count + 3] == UInt8(ascii: "{")
                else { return nil }
                return (name[prefix.count + 1], String(decoding: UnsafeBufferPointer(rebasing: name[idStart..<(name.count - 1)]), as: UTF8.self))
            }
        }
        guard let (kind, id) = parsed else { return nil }
        switch kind {
        case UInt8(ascii: "c"): guard let value = ConversationID(id) else { return nil }; self = .conversation(value)
        case UInt8(ascii: "u"): guard let value = UserID(id) else { return nil }; self = .user(value)
        case UInt8(ascii: "w"): guard let value = WorkspaceID(id) else { return nil }; self = .desk(value)
        case UInt8(ascii: "p"): guard id == "all" else { return nil }; self = .presence
        default: return nil
        }
    }

    public var description: String { name(prefix: "sb") }
}

/// What an envelope carries, so that a receiving node can route it without decoding the frame.
public enum EventKind: String, Sendable, Hashable, CaseIterable {
    /// A stored conversation entry with a seq; relayed in seq order, once per node.
    case message = "m"
    /// A conversation's details or membership changed; `frame` is the event for its members.
    case conversationUpdated = "u"
    /// `subject` joined the conversation: the node subscribes and starts relaying to them.
    case joined = "j"
    /// `subject` left or was removed: the node stops relaying to them.
    case left = "l"
    /// A conversation-wide signal that is not stored (a receipt): to every local session of every member.
    case signal = "s"
    /// Like `signal`, but not to the sessions of `subject` (typing is not echoed to the typist).
    case signalOthers = "o"
    /// A notice on a user channel: to every local session of that user. (Nodes before the presence
    /// channel sent each contact's presence so; still delivered, for a cluster in a rolling deploy.)
    case notice = "n"
    /// A user went online or offline, on the presence channel: to every local session of every local
    /// member of `conversations` but `subject`, once per session however many it shares.
    case presence = "p"
    /// A support queue event on a desk channel: to every local session of that workspace's agents.
    case desk = "d"
}

/// One event crossing the broker. `frame` holds the exact bytes written to client sockets (encoded once
/// by the publishing node); the other fields let receiving nodes route, order and dedupe without decoding.
public struct Envelope: Sendable, Hashable {
    public var channel: Channel
    public var kind: EventKind
    /// The node that published it.
    public var origin: NodeID
    /// Unique per origin node: (origin, eventID) identifies an event.
    public var eventID: UInt64
    public var conversation: ConversationID?
    /// For `.message`, the entry's seq; for `.joined`, the conversation's last seq when the user joined.
    public var seq: Seq?
    /// For `.joined` and `.left`, the user concerned.
    public var subject: UserID?
    /// For `.message`, when the entry was sent (its `createdAt`): receivers measure send-to-deliver time.
    public var sentAt: Timestamp?
    /// For `.presence`, the conversations of `subject` whose members are told.
    public var conversations: [ConversationID]
    /// The client frame, UTF-8 JSON.
    public var frame: [UInt8]

    public init(
        channel: Channel, kind: EventKind, origin: NodeID, eventID: UInt64, conversation: ConversationID? = nil,
        seq: Seq? = nil, subject: UserID? = nil, sentAt: Timestamp? = nil, conversations: [ConversationID] = [], frame: [UInt8]
    ) {
        self.sentAt = sentAt
        self.conversations = conversations
        self.channel = channel
        self.kind = kind
        self.origin = origin
        self.eventID = eventID
        self.conversation = conversation
        self.seq = seq
        self.subject = subject
        self.frame = frame
    }
}

/// Receives every envelope published to a channel this node subscribed to. Called from the broker's
/// own context; it must not block (the node enqueues to bounded per-connection outboxes and returns).
public typealias EnvelopeHandler = @Sendable (Envelope) -> Void

/// Publish/subscribe between nodes. One instance per node; the node reference-counts its local
/// interest and calls `subscribe` once per channel, however many local sockets want it.
///
/// Contract: at-most-once delivery to every node subscribed when the publish happens (including the
/// publisher itself, when subscribed), in publish order per publisher and channel; `subscribe` and
/// `unsubscribe` are idempotent; once `subscribe` returns, publishes from any node reach this node's
/// handler. Delivery being at-most-once, the node repairs gaps from the store.
public protocol Broker: Sendable {
    func publish(_ envelope: Envelope) async throws
    func subscribe(_ channel: Channel) async throws
    func unsubscribe(_ channel: Channel) async throws
}

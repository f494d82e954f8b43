import ChatCore
import ChatWire

/// The successful outcome of a ``Command``, ready to be written as a WebSocket `ack` or a REST body.
public enum Reply: Sendable, Hashable {
    case conversation(ConversationReply)
    case conversationList(ConversationListReply)
    /// A stored entry (encoded once: the ack, the REST body and the event share its bytes) and
    /// whether it was a repeat of an earlier send.
    case sent(EncodedMessage, duplicate: Bool)
    case history(HistoryReply)
    case receipt(ReceiptBody)
    case presence(PresenceReply)
    case supportOpened(SupportOpenReply)
    case supportQueue(SupportQueueReply)
    case supportClaim(SupportClaimReply)
    case empty

    /// The `ack` frame answering request `re`.
    public func ackFrame(re: RequestID?) -> [UInt8] {
        switch self {
        case .conversation(let body): FrameCodec.ack(re: re, body)
        case .conversationList(let body): FrameCodec.ack(re: re, body)
        case .sent(let message, let duplicate): FrameCodec.ack(re: re, sent: message, duplicate: duplicate)
        case .history(let body): FrameCodec.ack(re: re, body)
        case .receipt(let body): FrameCodec.ack(re: re, body)
        case .presence(let body): FrameCodec.ack(re: re, body)
        case .supportOpened(let body): FrameCodec.ack(re: re, body)
        case .supportQueue(let body): FrameCodec.ack(re: re, body)
        case .supportClaim(let body): FrameCodec.ack(re: re, body)
        case .empty: FrameCodec.ack(re: re, EmptyReply())
        }
    }

    /// The REST response body.
    public var body: [UInt8] {
        switch self {
        case .conversation(let body): FrameCodec.body(body)
        case .conversationList(let body): FrameCodec.body(body)
        case .sent(let message, let duplicate): FrameCodec.sent(message, duplicate: duplicate)
        case .history(let body): FrameCodec.body(body)
        case .receipt(let body): FrameCodec.body(body)
        case .presence(let body): FrameCodec.body(body)
        case .supportOpened(let body): FrameCodec.body(body)
        case .supportQueue(let body): FrameCodec.body(body)
        case .supportClaim(let body): FrameCodec.body(body)
        case .empty: FrameCodec.body(EmptyReply())
        }
    }

    /// The REST status: 201 when something was created, 200 otherwise.
    public var httpStatus: Int {
        switch self {
        case .conversation(let body) where body.created == true: 201
        case .sent(_, let duplicate) where !duplicate: 201
        case .supportOpened(let body) where body.created: 201
        default: 200
        }
    }
}

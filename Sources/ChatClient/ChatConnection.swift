import ChatCore
import ChatWire
import Foundation
import HummingbirdWSClient
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// How a WebSocket client presents its token.
///
/// `.frame` is the default and the most robust: the server says nothing until it has read the `auth`
/// frame. With `.header` and `.query` the server answers as soon as the upgrade completes (`welcome`,
/// or `error` and close 4501 for a bad token), and the NIO client upgrade path this SDK uses can drop
/// bytes that arrive in the same read as the 101 response; the SDK then reports `unavailable` ("no
/// welcome") after its connect deadline instead of the server's answer.
public enum TokenTransport: Sendable {
    /// `Authorization: Bearer` on the upgrade request.
    case header
    /// `?token=` on the URL (browsers cannot set headers).
    case query
    /// An `auth` frame sent first.
    case frame
    /// No token at all (to test the auth deadline).
    case none
}

/// A live WebSocket connection to a node: typed requests that await their one reply, and every
/// other frame (events) collected in arrival order.
public final class ChatConnection: Sendable {
    private struct State {
        var writer: WebSocketOutboundWriter?
        var pending: [RequestID: ReplySlot] = [:]
        var events: [ServerFrame] = []
        var closed: WebSocketCloseFrame??
        var nextID = 0
        /// Who is typing where, until when (from `typing` events and their expiry).
        var typing: [String: [String: ContinuousClock.Instant]] = [:]
    }
    /// A request's reply: expected, arrived before anyone waited, or awaited.
    private enum ReplySlot {
        case expected
        case arrived(ServerFrame)
        case awaited(CheckedContinuation<ServerFrame, any Error>)
    }
    private let state = Mutex(State())
    private let maxEvents: Int
    /// Yields (at most one pending) when an event arrives or the connection ends: what ``ChatSession``
    /// waits on instead of polling. One consumer.
    let changes: AsyncStream<Void>
    private let changed: AsyncStream<Void>.Continuation

    init(maxEvents: Int) {
        self.maxEvents = maxEvents
        (changes, changed) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: Driving (called by ChatClient)

    func attach(_ writer: WebSocketOutboundWriter) { state.withLock { $0.writer = writer } }

    func received(_ text: String) {
        guard let frame = try? ServerFrame(bytes: Array(text.utf8)) else { return }
        let waiter = state.withLock { state -> CheckedContinuation<ServerFrame, any Error>? in
            if let re = frame.re, frame.type == "ack" || frame.type == "error", let slot = state.pending[re] {
                switch slot {
                case .expected, .arrived:
                    state.pending[re] = .arrived(frame)
                    return nil
                case .awaited(let waiter):
                    state.pending[re] = nil
                    return waiter
                }
            }
            if frame.type == EventType.typing.rawValue, let typing = try? frame.payload(TypingEvent.self) {
                state.typing[typing.conversation, default: [:]][typing.user] = .now.advanced(by: .milliseconds(typing.expiresInMs))
            }
            if state.events.count >= maxEvents { state.events.removeFirst() }
            state.events.append(frame)
            return nil
        }
        if let waiter { waiter.resume(returning: frame) } else { changed.yield() }
    }

    func finished(_ close: WebSocketCloseFrame?) {
        let waiters = state.withLock { state in
            state.closed = .some(close)
            state.writer = nil
            defer { state.pending.removeAll() }
            return state.pending.values.compactMap { slot in
                if case .awaited(let waiter) = slot { return waiter }
                return nil
            }
        }
        for waiter in waiters { waiter.resume(throwing: ChatError.unavailable("the connection closed")) }
        changed.yield()
        changed.finish()
    }

    var isAttached: Bool { state.withLock { $0.writer != nil || $0.closed != nil } }

    // MARK: Public API

    /// Every non-reply frame received so far (welcome, message.new, conversation.*, and errors without `re`).
    public var events: [ServerFrame] { state.withLock { $0.events } }

    /// The close code the server sent, once the connection has ended; nil while open.
    public var closeCode: Int? {
        state.withLock { state in
            guard case .some(let frame) = state.closed else { return nil }
            return frame.map { Int(UInt16(webSocketErrorCode: $0.closeCode)) } ?? 1006
        }
    }

    /// True once the connection has ended.
    public var isClosed: Bool { state.withLock { $0.closed != nil } }

    /// Sends raw text as one WebSocket message (for testing how the server treats bad input).
    public func sendRaw(_ text: String) async throws {
        guard let writer = state.withLock({ $0.writer }) else { throw ChatError.unavailable("the connection is closed") }
        try await writer.write(.text(text))
    }

    /// Sends a request frame and waits for its `ack`; an `error` reply throws the server's ``ChatError``.
    public func request<P: Encodable & Sendable>(_ type: RequestType, _ payload: P) async throws -> ServerFrame {
        let (id, writer) = state.withLock { state -> (RequestID, WebSocketOutboundWriter?) in
            state.nextID += 1
            let id = RequestID.text("r\(state.nextID)")
            if state.writer != nil { state.pending[id] = .expected }
            return (id, state.writer)
        }
        guard let writer else { throw ChatError.unavailable("the connection is closed") }
        let bytes = try JSONEncoder().encode(RequestFrame(type: type.rawValue, id: id, payload: payload))
        do {
            try await writer.write(.text(String(decoding: bytes, as: UTF8.self)))
        } catch {
            state.withLock { _ = $0.pending.removeValue(forKey: id) }
            throw error
        }
        let reply = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ServerFrame, any Error>) in
            let ready = state.withLock { state -> Result<ServerFrame, any Error>? in
                switch state.pending[id] {
                case .arrived(let frame):
                    state.pending[id] = nil
                    return .success(frame)
                case .expected:
                    state.pending[id] = .awaited(continuation)
                    return nil
                case .awaited, .none:
                    return .failure(ChatError.unavailable("the connection closed"))
                }
            }
            if let ready { continuation.resume(with: ready) }
        }
        if reply.type == "error" {
            let body = try reply.payload(ErrorBody.self)
            throw ChatError(ChatError.Code(rawValue: body.code) ?? .internal, body.message)
        }
        return reply
    }

    private struct RequestFrame<P: Encodable>: Encodable {
        var type: String
        var id: RequestID
        var payload: P
    }

    /// Closes the connection normally.
    public func close() async {
        guard let writer = state.withLock({ $0.writer }) else { return }
        try? await writer.close(.normalClosure, reason: nil)
    }

    // MARK: Typed requests

    public func authenticate(token: String, resume: [String: Int64]? = nil) async throws {
        _ = try await request(.auth, AuthRequest(token: token, resume: resume))
    }

    public func createDirect(with user: String, workspace: String? = nil) async throws -> ConversationReply {
        try await request(.createDirect, CreateDirectRequest(user: user, workspace: workspace)).payload(ConversationReply.self)
    }

    public func createGroup(title: String, participants: [String], workspace: String? = nil) async throws -> ConversationReply {
        try await request(.createGroup, CreateGroupRequest(title: title, participants: participants, workspace: workspace))
            .payload(ConversationReply.self)
    }

    public func conversations(cursor: String? = nil, limit: Int? = nil, workspace: String? = nil) async throws -> ConversationListReply {
        try await request(.listConversations, ListConversationsRequest(cursor: cursor, limit: limit, workspace: workspace))
            .payload(ConversationListReply.self)
    }

    public func conversation(_ id: String) async throws -> ConversationReply {
        try await request(.getConversation, ConversationRequest(conversation: id)).payload(ConversationReply.self)
    }

    public func addParticipants(_ users: [String], to conversation: String, role: Role? = nil) async throws -> ConversationReply {
        try await request(.addParticipants, AddParticipantsRequest(conversation: conversation, users: users, role: role))
            .payload(ConversationReply.self)
    }

    public func removeParticipant(_ user: String, from conversation: String) async throws -> ConversationReply {
        try await request(.removeParticipant, RemoveParticipantRequest(conversation: conversation, user: user)).payload(ConversationReply.self)
    }

    public func setRole(_ role: Role, of user: String, in conversation: String) async throws -> ConversationReply {
        try await request(.setRole, SetRoleRequest(conversation: conversation, user: user, role: role)).payload(ConversationReply.self)
    }

    public func leave(_ conversation: String) async throws {
        _ = try await request(.leave, ConversationRequest(conversation: conversation))
    }

    public func send(
        _ content: String, to conversation: String, clientID: String = UUID().uuidString, kind: MessageKind = .text, metadata: JSONValue? = nil
    ) async throws -> SendReply {
        try await request(.send, SendRequest(conversation: conversation, clientID: clientID, kind: kind, content: content, metadata: metadata))
            .payload(SendReply.self)
    }

    public func history(_ conversation: String, before: Int64? = nil, after: Int64? = nil, limit: Int? = nil) async throws -> HistoryReply {
        try await request(.history, HistoryRequest(conversation: conversation, before: before, after: after, limit: limit))
            .payload(HistoryReply.self)
    }

    public func edit(_ seq: Int64, in conversation: String, to content: String, clientID: String? = nil) async throws -> SendReply {
        try await request(.edit, EditRequest(conversation: conversation, seq: seq, content: content, clientID: clientID))
            .payload(SendReply.self)
    }

    public func delete(_ seq: Int64, in conversation: String, clientID: String? = nil) async throws -> SendReply {
        try await request(.delete, DeleteRequest(conversation: conversation, seq: seq, clientID: clientID)).payload(SendReply.self)
    }

    public func react(_ emoji: String, to seq: Int64, in conversation: String) async throws -> SendReply {
        try await request(.react, ReactionRequest(conversation: conversation, seq: seq, emoji: emoji)).payload(SendReply.self)
    }

    public func unreact(_ emoji: String, from seq: Int64, in conversation: String) async throws -> SendReply {
        try await request(.unreact, ReactionRequest(conversation: conversation, seq: seq, emoji: emoji)).payload(SendReply.self)
    }

    /// Moves your watermarks: everything up to `delivered` reached you, up to `read` you read.
    public func mark(_ conversation: String, delivered: Int64? = nil, read: Int64? = nil) async throws -> ReceiptBody {
        try await request(.receipt, ReceiptRequest(conversation: conversation, delivered: delivered, read: read)).payload(ReceiptBody.self)
    }

    /// Tells the others you are typing (the node throttles and never stores it).
    public func typing(in conversation: String) async throws {
        _ = try await request(.typing, ConversationRequest(conversation: conversation))
    }

    public func presence(of users: [String]) async throws -> [PresenceBody] {
        try await request(.presence, PresenceRequest(users: users)).payload(PresenceReply.self).users
    }

    public func archive(_ conversation: String) async throws {
        _ = try await request(.archive, ConversationRequest(conversation: conversation))
    }

    public func unarchive(_ conversation: String) async throws {
        _ = try await request(.unarchive, ConversationRequest(conversation: conversation))
    }

    public func close(_ conversation: String) async throws -> ConversationReply {
        try await request(.close, ConversationRequest(conversation: conversation)).payload(ConversationReply.self)
    }

    /// The posts received as `message.new` events so far, in arrival order.
    public var receivedMessages: [MessageBody] {
        events.filter { $0.type == EventType.messageNew.rawValue }.compactMap { try? $0.payload(MessageEvent.self).message }
    }

    private static let entryTypes: Set<String> = [
        EventType.messageNew, .messageEdited, .messageDeleted, .reactionAdded, .reactionRemoved,
    ].reduce(into: []) { $0.insert($1.rawValue) }

    /// True for the event types that carry a log entry.
    static func isEntry(_ type: String) -> Bool { entryTypes.contains(type) }

    /// The user the node welcomed this connection as (nil before `welcome`).
    public var user: String? {
        events.first { $0.type == EventType.welcome.rawValue }.flatMap { try? $0.payload(WelcomeBody.self).user }
    }

    /// Every log entry received so far (posts, edits, deletions, reactions), in arrival order.
    public var receivedEntries: [MessageBody] {
        events.filter { Self.entryTypes.contains($0.type) }.compactMap { try? $0.payload(MessageEvent.self).message }
    }

    /// The highest seq received per conversation: what to pass as `resume` when reconnecting.
    public var positions: [String: Int64] {
        receivedEntries.reduce(into: [:]) { result, entry in result[entry.conversation] = max(result[entry.conversation] ?? 0, entry.seq) }
    }

    /// The users shown as typing in `conversation` now (their last typing event has not expired).
    public func typingUsers(in conversation: String) -> Set<String> {
        let now = ContinuousClock.now
        return state.withLock { state in Set((state.typing[conversation] ?? [:]).filter { $0.value > now }.keys) }
    }

    /// The `presence` events received so far, in arrival order.
    public var presenceEvents: [PresenceBody] {
        events.filter { $0.type == EventType.presence.rawValue }.compactMap { try? $0.payload(PresenceBody.self) }
    }

    // MARK: Support desk

    /// Asks `workspace`'s desk for help; `description` becomes the request conversation's first message.
    public func openSupportRequest(in workspace: String, subject: String? = nil, description: String) async throws -> SupportOpenReply {
        try await request(.supportOpen, SupportOpenRequest(workspace: workspace, subject: subject, content: description))
            .payload(SupportOpenReply.self)
    }

    /// The waiting requests of a workspace you are an agent of, oldest first.
    public func supportQueue(of workspace: String, limit: Int? = nil) async throws -> [SupportRequestBody] {
        try await request(.supportQueue, SupportQueueRequest(workspace: workspace, limit: limit)).payload(SupportQueueReply.self).requests
    }

    /// Tries to take a waiting request: `outcome` is `won`, or `claimed` with the holder in `request.agent`.
    public func claimSupportRequest(_ id: String) async throws -> SupportClaimReply {
        try await request(.supportClaim, SupportClaimRequest(request: id)).payload(SupportClaimReply.self)
    }

    /// The support desk events received so far (`support.queued`, `support.claimed`, `support.closed`), in
    /// arrival order, with their type.
    public var supportEvents: [(type: String, request: SupportRequestBody)] {
        events.compactMap { frame in
            guard frame.type.hasPrefix("support."), let body = try? frame.payload(SupportEvent.self) else { return nil }
            return (frame.type, body.request)
        }
    }
}

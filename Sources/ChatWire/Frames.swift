import ChatCore
import Foundation

/// Frame type names, client to server.
public enum RequestType: String, Sendable, CaseIterable {
    case auth
    case ping
    case createDirect = "conversation.create_direct"
    case createGroup = "conversation.create_group"
    case listConversations = "conversation.list"
    case getConversation = "conversation.get"
    case addParticipants = "conversation.add_participants"
    case removeParticipant = "conversation.remove_participant"
    case setRole = "conversation.set_role"
    case leave = "conversation.leave"
    case send = "message.send"
    case history = "message.history"
    case edit = "message.edit"
    case delete = "message.delete"
    case react = "reaction.add"
    case unreact = "reaction.remove"
    case receipt = "receipt.mark"
    case typing
    case presence = "presence.query"
    case archive = "conversation.archive"
    case unarchive = "conversation.unarchive"
    case close = "conversation.close"
    case supportOpen = "support.open"
    case supportQueue = "support.queue"
    case supportClaim = "support.claim"
}

/// Frame type names, server to client.
public enum EventType: String, Sendable, CaseIterable {
    /// The reply to a request that succeeded; `re` names the request's id.
    case ack
    /// The reply to a request that failed, or a complaint about a frame that could not be read.
    case error
    /// The connection is authenticated.
    case welcome
    /// A message was stored in one of your conversations.
    case messageNew = "message.new"
    /// A conversation you are in changed (title, participants, roles).
    case conversationUpdated = "conversation.updated"
    /// You were added to a conversation (or created one).
    case conversationJoined = "conversation.joined"
    /// You left or were removed from a conversation.
    case conversationLeft = "conversation.left"
    /// A post was edited: an entry with its own seq, `target` naming the post.
    case messageEdited = "message.edited"
    /// A post was deleted (a tombstone stays): an entry with its own seq.
    case messageDeleted = "message.deleted"
    /// Someone reacted to a post: an entry with its own seq.
    case reactionAdded = "reaction.added"
    /// Someone took a reaction back: an entry with its own seq.
    case reactionRemoved = "reaction.removed"
    /// A participant's receipt watermarks moved.
    case receipt
    /// Someone is typing (never stored).
    case typing
    /// Someone who shares a conversation with you went online or offline.
    case presence
    /// The server is going away: reconnect after `delay_ms` (jittered per client).
    case reconnect
    /// To a workspace's agents: a support request is waiting (new, or back in the queue).
    case supportQueued = "support.queued"
    /// To a workspace's agents: an agent claimed a request; it leaves the queue.
    case supportClaimed = "support.claimed"
    /// To a workspace's agents: a request was closed.
    case supportClosed = "support.closed"

    /// The event that carries a log entry with `action`.
    public static func entry(_ action: MessageAction) -> EventType {
        switch action {
        case .post: .messageNew
        case .edit: .messageEdited
        case .delete: .messageDeleted
        case .react: .reactionAdded
        case .unreact: .reactionRemoved
        }
    }
}

/// A frame read from a client.
public enum InboundFrame: Sendable, Hashable {
    case auth(id: RequestID?, token: String, resume: [ConversationID: Seq])
    case ping(id: RequestID?)
    case command(id: RequestID?, Command)

    /// The frame's `type`, as the client sent it.
    public var typeName: String {
        switch self {
        case .auth: RequestType.auth.rawValue
        case .ping: RequestType.ping.rawValue
        case .command(_, let command): command.requestType.rawValue
        }
    }
}

/// A frame that could not be turned into an ``InboundFrame``: the error to send back, and the request
/// id when the frame had a readable one.
public struct FrameError: Error, Sendable, Equatable {
    public var re: RequestID?
    public var error: ChatError
    public init(re: RequestID?, error: ChatError) {
        self.re = re
        self.error = error
    }
}

/// Reads client frames and writes server frames: `{"type": ..., "id"|"re": ..., "payload": {...}}`.
///
/// Guarantees: `decode` never traps on any input; every failure is a ``FrameError`` with a
/// `validation` code naming what was wrong, and the id when it could be read. Encoders produce UTF-8
/// JSON bytes, once per event, that the node writes unchanged to every recipient.
public enum FrameCodec {
    /// One pass over a client frame: its `type` and `id`, read leniently (a field of the wrong type is
    /// noted, not fatal, so that an error can still name the request whose id was readable), and its
    /// `payload` decoded as the type's payload (``payloadType(of:)``) in the same pass; a payload that
    /// does not fit is kept as its decoding error, to be reported with the id.
    private struct Parsed: Decodable {
        enum Field<Value> {
            case absent
            case wrongType
            case value(Value)
        }
        var type: Field<String> = .absent
        var id: Field<RequestID> = .absent
        /// Nil inside when the payload is absent or null; nil outside when it was not read in this pass.
        var payload: Result<(any Decodable & Sendable)?, DecodingError>?

        enum Keys: String, CodingKey { case type, id, payload }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            type = Self.field(String.self, .type, in: container)
            id = Self.field(RequestID.self, .id, in: container)
            if case .value(let name) = type, let request = RequestType(rawValue: name), let payloadType = FrameCodec.payloadType(of: request) {
                payload = Self.decodePayload(payloadType, in: container)
            }
        }

        private static func field<V: Decodable>(_: V.Type, _ key: Keys, in container: KeyedDecodingContainer<Keys>) -> Field<V> {
            guard container.contains(key), (try? container.decodeNil(forKey: key)) != true else { return .absent }
            return (try? container.decode(V.self, forKey: key)).map(Field.value) ?? .wrongType
        }

        private static func decodePayload<P: Decodable & Sendable>(
            _: P.Type, in container: KeyedDecodingContainer<Keys>
        ) -> Result<(any Decodable & Sendable)?, DecodingError> {
            do {
                return .success(try container.decodeIfPresent(P.self, forKey: .payload))
            } catch let error as DecodingError {
                return .failure(error)
            } catch {
                return .failure(.dataCorrupted(.init(codingPath: [Keys.payload], debugDescription: "\(error)")))
            }
        }
    }

    /// What each request type carries as its payload (nil: nothing is read).
    private static func payloadType(of type: RequestType) -> (any (Decodable & Sendable).Type)? {
        switch type {
        case .auth: AuthRequest.self
        case .ping: nil
        case .createDirect: CreateDirectRequest.self
        case .createGroup: CreateGroupRequest.self
        case .listConversations: ListConversationsRequest.self
        case .getConversation, .leave, .typing, .archive, .unarchive, .close: ConversationRequest.self
        case .addParticipants: AddParticipantsRequest.self
        case .removeParticipant: RemoveParticipantRequest.self
        case .setRole: SetRoleRequest.self
        case .send: SendRequest.self
        case .history: HistoryRequest.self
        case .edit: EditRequest.self
        case .delete: DeleteRequest.self
        case .react, .unreact: ReactionRequest.self
        case .receipt: ReceiptRequest.self
        case .presence: PresenceRequest.self
        case .supportOpen: SupportOpenRequest.self
        case .supportQueue: SupportQueueRequest.self
        case .supportClaim: SupportClaimRequest.self
        }
    }

    /// Decodes one client frame.
    public static func decode(_ bytes: some Collection<UInt8>) -> Result<InboundFrame, FrameError> {
        if let quick = quickDecode(bytes) { return quick }
        return decodeWithFoundation(bytes)
    }

    /// ``decode(_:)`` through Foundation's `JSONDecoder`: every frame ``quickDecode(_:)`` leaves.
    static func decodeWithFoundation(_ bytes: some Collection<UInt8>) -> Result<InboundFrame, FrameError> {
        let data = Data(bytes)
        let header: Parsed
        do {
            header = try JSONDecoder().decode(Parsed.self, from: data)
        } catch {
            return .failure(FrameError(re: nil, error: .validation("the frame is not a JSON object")))
        }
        let id: RequestID?
        switch header.id {
        case .absent: id = nil
        case .value(let value) where value.description.utf8.count <= RequestID.maxBytes: id = value
        case .value, .wrongType:
            return .failure(FrameError(re: nil, error: .validation("field 'id' must be a string or an integer of at most \(RequestID.maxBytes) bytes")))
        }
        let typeName: String
        switch header.type {
        case .absent: return .failure(FrameError(re: id, error: .validation("missing field 'type'")))
        case .wrongType: return .failure(FrameError(re: id, error: .validation("field 'type' has the wrong type")))
        case .value(let value): typeName = value
        }
        guard let type = RequestType(rawValue: typeName) else {
            return .failure(FrameError(re: id, error: .validation("unknown frame type '\(typeName)'")))
        }
        do {
            switch type {
            case .auth:
                let body = try payload(AuthRequest.self, data, header)
                return .success(.auth(id: id, token: body.token, resume: try Validate.resume(body.resume)))
            case .ping:
                return .success(.ping(id: id))
            case .createDirect:
                return .success(.command(id: id, try Validate.createDirect(payload(CreateDirectRequest.self, data, header))))
            case .createGroup:
                return .success(.command(id: id, try Validate.createGroup(payload(CreateGroupRequest.self, data, header))))
            case .listConversations:
                let body = try optionalPayload(ListConversationsRequest.self, data, header) ?? ListConversationsRequest()
                return .success(.command(id: id, try Validate.list(body)))
            case .getConversation:
                return .success(.command(id: id, .getConversation(try Validate.conversation(payload(ConversationRequest.self, data, header).conversation))))
            case .addParticipants:
                return .success(.command(id: id, try Validate.addParticipants(payload(AddParticipantsRequest.self, data, header))))
            case .removeParticipant:
                let body = try payload(RemoveParticipantRequest.self, data, header)
                return .success(.command(id: id, .removeParticipant(try Validate.conversation(body.conversation), user: try Validate.user(body.user))))
            case .setRole:
                return .success(.command(id: id, try Validate.setRole(payload(SetRoleRequest.self, data, header))))
            case .leave:
                return .success(.command(id: id, .leave(try Validate.conversation(payload(ConversationRequest.self, data, header).conversation))))
            case .send:
                return .success(.command(id: id, try Validate.send(payload(SendRequest.self, data, header))))
            case .history:
                return .success(.command(id: id, try Validate.history(payload(HistoryRequest.self, data, header))))
            case .edit:
                return .success(.command(id: id, try Validate.edit(payload(EditRequest.self, data, header))))
            case .delete:
                return .success(.command(id: id, try Validate.delete(payload(DeleteRequest.self, data, header))))
            case .react, .unreact:
                return .success(.command(id: id, try Validate.reaction(payload(ReactionRequest.self, data, header), add: type == .react)))
            case .receipt:
                return .success(.command(id: id, try Validate.receipt(payload(ReceiptRequest.self, data, header))))
            case .typing:
                return .success(.command(id: id, .typing(try Validate.conversation(payload(ConversationRequest.self, data, header).conversation))))
            case .presence:
                return .success(.command(id: id, try Validate.presence(payload(PresenceRequest.self, data, header))))
            case .archive, .unarchive:
                let conversation = try Validate.conversation(payload(ConversationRequest.self, data, header).conversation)
                return .success(.command(id: id, .archive(conversation, archived: type == .archive)))
            case .close:
                return .success(.command(id: id, .close(try Validate.conversation(payload(ConversationRequest.self, data, header).conversation))))
            case .supportOpen:
                return .success(.command(id: id, try Validate.supportOpen(payload(SupportOpenRequest.self, data, header))))
            case .supportQueue:
                let body = try payload(SupportQueueRequest.self, data, header)
                return .success(.command(id: id, try Validate.supportQueue(workspace: body.workspace, limit: body.limit)))
            case .supportClaim:
                return .success(.command(id: id, .claimSupport(try Validate.supportRequest(payload(SupportClaimRequest.self, data, header).request))))
            }
        } catch let error as ChatError {
            return .failure(FrameError(re: id, error: error))
        } catch {
            return .failure(FrameError(re: id, error: .internal("could not read the frame")))
        }
    }

    private static func payload<P: Decodable>(_ type: P.Type, _ data: Data, _ parsed: Parsed) throws -> P {
        guard let value = try optionalPayload(type, data, parsed) else { throw ChatError.validation("missing field 'payload'") }
        return value
    }

    /// The payload the one pass read as ``payloadType(of:)`` names it. Fields are named as inside the
    /// payload, which is also the REST body: 'content', not 'payload.content'. A table that names
    /// another type than the caller's is a bug (FrameCodecTests decodes every request type).
    private static func optionalPayload<P: Decodable>(_ type: P.Type, _ data: Data, _ parsed: Parsed) throws -> P? {
        switch parsed.payload {
        case .success(.none): return nil
        case .success(.some(let value as P)): return value
        case .failure(let error): throw ChatError.validation(describe(error, in: data, under: Parsed.Keys.payload))
        case .success(.some), .none: throw ChatError.internal("the frame's payload was read as another type than \(P.self)")
        }
    }

    /// A human description of a decoding failure of `data` that names the field, e.g. `missing field
    /// 'user'`, `field 'participants[1]' has the wrong type`. Paths are given from inside `root` when
    /// the failure lies under that key. Foundation's decoder reports a number that is valid JSON but
    /// fits no field (a fraction where an integer belongs, or out of range) without a path; `data` is
    /// then parsed again to tell that apart from JSON that is broken.
    public static func describe(_ error: DecodingError, in data: Data, under root: (any CodingKey)? = nil) -> String {
        func path(_ keys: [any CodingKey], _ last: (any CodingKey)? = nil) -> String {
            var all = keys + (last.map { [$0] } ?? [])
            if let root, all.count > 1, all[0].stringValue == root.stringValue { all.removeFirst() }
            return all.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
                .replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing field '\(path(context.codingPath, key))'"
        case .valueNotFound(_, let context): return "missing value for '\(path(context.codingPath))'"
        case .typeMismatch(_, let context): return "field '\(path(context.codingPath))' has the wrong type"
        case .dataCorrupted(let context):
            // Such a number is reported without a path, or (read in a nested container) with only the root's.
            let pathless = context.codingPath.isEmpty || (context.codingPath.count == 1 && context.codingPath[0].stringValue == root?.stringValue)
            guard pathless else { return "field '\(path(context.codingPath))' has an invalid value" }
            return (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) == nil
                ? "the body is not valid JSON"
                : "a number has the wrong type for its field (a fraction where an integer belongs, or out of range)"
        @unknown default: return "the request could not be read"
        }
    }

    // MARK: Encoding

    private struct Outbound<Payload: Encodable>: Encodable {
        var type: String
        var re: RequestID?
        var payload: Payload
    }

    private static func encode<P: Encodable>(_ frame: Outbound<P>) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        // Every payload type is a plain struct of strings, numbers and arrays: encoding cannot fail.
        return (try? Array(encoder.encode(frame))) ?? Array(#"{"type":"error","payload":{"code":"internal","message":"encoding failed"}}"#.utf8)
    }

    /// `{"type":"ack","re":id,"payload":...}`
    public static func ack<P: Encodable>(re: RequestID?, _ payload: P) -> [UInt8] {
        encode(Outbound(type: EventType.ack.rawValue, re: re, payload: payload))
    }

    /// `{"type":"error","re":id,"payload":{"code":...,"message":...}}`
    public static func error(re: RequestID?, _ error: ChatError) -> [UInt8] {
        encode(Outbound(type: EventType.error.rawValue, re: re, payload: ErrorBody(error)))
    }

    /// `{"type":type,"payload":...}` for events that answer no request.
    public static func event<P: Encodable>(_ type: EventType, _ payload: P) -> [UInt8] {
        encode(Outbound(type: type.rawValue, re: nil, payload: payload))
    }

    // MARK: A log entry encoded once

    /// `{"type":type,"payload":{"message":M}}` around an entry's bytes: the same frame as
    /// `event(type, MessageEvent(message:))`, without encoding the entry again.
    public static func event(_ type: EventType, message: EncodedMessage) -> [UInt8] {
        var frame = Array(#"{"type":""#.utf8)
        frame += Array(type.rawValue.utf8)
        frame += Array(#"","payload":{"message":"#.utf8)
        frame += message.json
        frame += Array("}}".utf8)
        return frame
    }

    /// `{"message":M,"duplicate":bool}`: a send's reply body (REST), around the entry's bytes.
    public static func sent(_ message: EncodedMessage, duplicate: Bool) -> [UInt8] {
        Array(#"{"message":"#.utf8) + message.json + Array((duplicate ? #","duplicate":true}"# : #","duplicate":false}"#).utf8)
    }

    /// The `ack` of a send, around the entry's bytes: the same frame as `ack(re:, SendReply(…))`.
    public static func ack(re: RequestID?, sent message: EncodedMessage, duplicate: Bool) -> [UInt8] {
        var frame = Array(#"{"type":"ack","#.utf8)
        switch re {
        case .text(let text)?: frame += Array(#""re":"#.utf8) + jsonString(text) + Array(",".utf8)
        case .number(let number)?: frame += Array(#""re":\#(number),"#.utf8)
        case nil: break
        }
        frame += Array(#""payload":"#.utf8)
        frame += sent(message, duplicate: duplicate)
        frame += Array("}".utf8)
        return frame
    }

    /// A JSON string literal of `text`, as ``JSONBytes`` writes it.
    static func jsonString(_ text: String) -> [UInt8] {
        var json = JSONBytes(capacity: text.utf8.count + 2)
        json.string(text)
        return json.bytes
    }

    /// JSON bytes of a REST body.
    public static func body<P: Encodable>(_ payload: P) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return (try? Array(encoder.encode(payload))) ?? Array(#"{"error":{"code":"internal","message":"encoding failed"}}"#.utf8)
    }
}

/// The envelope of a server frame as a client reads it: type, the request it answers, and the raw bytes
/// to decode the payload from once the type is known.
public struct ServerFrame: Sendable {
    public var type: String
    public var re: RequestID?
    public var bytes: [UInt8]

    private struct Header: Decodable {
        var type: String
        var re: RequestID?
    }

    private struct Body<P: Decodable>: Decodable {
        var payload: P
    }

    /// Reads the header of a server frame.
    public init(bytes: [UInt8]) throws {
        let header = try JSONDecoder().decode(Header.self, from: Data(bytes))
        type = header.type
        re = header.re
        self.bytes = bytes
    }

    /// Decodes the payload as `P`.
    public func payload<P: Decodable>(_ type: P.Type) throws -> P {
        try JSONDecoder().decode(Body<P>.self, from: Data(bytes)).payload
    }
}

import ChatCore

extension FrameCodec {
    /// The frames a connection sends most (`send`, `receipt`, `typing`, `ping`), read without
    /// Foundation's decoder when they hold nothing unusual: every member named once, each one the
    /// request defines, of its type; a `metadata` only when absent or null; an integer only as plain
    /// digits that fit. Nil for anything else, which ``decode(_:)`` then reads the general way, so every
    /// error is reported as always.
    ///
    /// Guarantees: when not nil, the result is the one the general way gives for the same bytes
    /// (FrameCodecTests compares the two over generated frames).
    static func quickDecode(_ bytes: some Collection<UInt8>) -> Result<InboundFrame, FrameError>? {
        guard let frame = Members(JSONScanner.parse(bytes), allowed: QuickFields.frame),
            case .string(let typeName)? = frame["type"],
            let type = RequestType(rawValue: typeName),
            let id = frame.requestID("id"),
            id.map({ $0.description.utf8.count <= RequestID.maxBytes }) ?? true
        else { return nil }
        do {
            switch type {
            case .ping:
                return .success(.ping(id: id))
            case .send:
                guard let body = Members(frame["payload"], allowed: QuickFields.send),
                    let conversation = body.optionalString("conversation"),
                    case .string(let clientID)? = body["client_id"],
                    case .string(let content)? = body["content"],
                    let kind = body.optionalString("kind"),
                    body.isAbsentOrNull("metadata")
                else { return nil }
                var messageKind: MessageKind?
                if let kind {
                    guard let known = MessageKind(rawValue: kind) else { return nil }
                    messageKind = known
                }
                let request = SendRequest(conversation: conversation, clientID: clientID, kind: messageKind, content: content)
                return .success(.command(id: id, try Validate.send(request)))
            case .receipt:
                guard let body = Members(frame["payload"], allowed: QuickFields.receipt),
                    let conversation = body.optionalString("conversation"),
                    let delivered = body.optionalInteger("delivered"),
                    let read = body.optionalInteger("read")
                else { return nil }
                return .success(.command(id: id, try Validate.receipt(ReceiptRequest(conversation: conversation, delivered: delivered, read: read))))
            case .typing:
                guard let body = Members(frame["payload"], allowed: QuickFields.typing), case .string(let conversation)? = body["conversation"] else {
                    return nil
                }
                return .success(.command(id: id, .typing(try Validate.conversation(conversation))))
            default:
                return nil
            }
        } catch {
            return .failure(FrameError(re: id, error: error))
        }
    }

    /// The members each quick frame may have (made once, not per frame).
    private enum QuickFields {
        static let frame = ["type", "id", "payload"]
        static let send = ["conversation", "client_id", "kind", "content", "metadata"]
        static let receipt = ["conversation", "delivered", "read"]
        static let typing = ["conversation"]
    }

    /// An object's members when each is named once and all are in `allowed`.
    private struct Members {
        let members: [(key: String, value: JSONScanner.Node)]

        init?(_ node: JSONScanner.Node?, allowed: [String]) {
            guard case .object(let members)? = node else { return nil }
            for (index, member) in members.enumerated() {
                guard allowed.contains(member.key), !members[..<index].contains(where: { $0.key == member.key }) else { return nil }
            }
            self.members = members
        }

        subscript(key: String) -> JSONScanner.Node? { members.first { $0.key == key }?.value }

        func isAbsentOrNull(_ key: String) -> Bool {
            switch self[key] {
            case nil, .null?: true
            default: false
            }
        }

        /// `.some(nil)` when absent or null, the text of a string; nil (not read here) otherwise.
        func optionalString(_ key: String) -> String?? {
            switch self[key] {
            case nil, .null?: .some(nil)
            case .string(let text)?: text
            default: nil
            }
        }

        /// `.some(nil)` when absent or null, the value of plain digits that fit an Int64; nil otherwise.
        func optionalInteger(_ key: String) -> Int64?? {
            switch self[key] {
            case nil, .null?: .some(nil)
            case .number(let text)?: Self.integer(text).map(Optional.some)
            default: nil
            }
        }

        /// A request id: `.some(nil)` when absent or null, a string's text or an integer; nil otherwise.
        func requestID(_ key: String) -> RequestID?? {
            switch self[key] {
            case nil, .null?: .some(nil)
            case .string(let text)?: .text(text)
            case .number(let text)?: Self.integer(text).map(RequestID.number)
            default: nil
            }
        }

        /// Plain digits with an optional minus (no fraction, exponent or negative zero) that fit an Int64.
        private static func integer(_ text: String) -> Int64? {
            guard text != "-0", text.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }) else {
                return nil
            }
            return Int64(text)
        }
    }
}

/// Makes new identities for conversations, messages and support requests. Injected so that tests can
/// make them predictable.
public protocol IDGenerator: Sendable {
    func conversationID() -> ConversationID
    func messageID() -> MessageID
    func supportRequestID() -> SupportRequestID
}

/// Random 128-bit-ish ids in base 62 (`c_…`, `m_…`, `s_…`): 22 characters of the system's secure random source.
public struct RandomIDGenerator: IDGenerator {
    public init() {}
    public func conversationID() -> ConversationID { ConversationID(trusted: "c_" + Self.token()) }
    public func messageID() -> MessageID { MessageID(trusted: "m_" + Self.token()) }
    public func supportRequestID() -> SupportRequestID { SupportRequestID(trusted: "s_" + Self.token()) }

    /// 22 base-62 characters (about 131 bits).
    public static func token(length: Int = 22) -> String {
        let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(length)
        for _ in 0..<length { bytes.append(alphabet[Int(generator.next(upperBound: UInt64(alphabet.count)))]) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

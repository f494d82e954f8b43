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

    private static let alphabet = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// 22 base-62 characters (about 131 bits), each uniform: a byte of 248 (62 × 4) or more is skipped,
    /// so that `byte % 62` favours no character. The bytes come from the system's secure source through
    /// ``SecureRandom``'s pool, 32 at a time (`SystemRandomNumberGenerator` makes a system call per eight
    /// bytes, which cost a send four).
    public static func token(length: Int = 22) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(length)
        var random = [UInt8](repeating: 0, count: 32)
        while bytes.count < length {
            SecureRandom.fill(&random)
            for byte in random where bytes.count < length && byte < 248 { bytes.append(alphabet[Int(byte % 62)]) }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

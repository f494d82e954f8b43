/// A request's `id` as the client wrote it: a JSON string or a JSON integer, at most
/// ``RequestID/maxBytes`` bytes as text.
///
/// Guarantees: the reply's `re` is the same JSON value the request's `id` was, string for string and
/// number for number, so a client can match replies with `===` (JSON-RPC does the same). `7` and `"7"`
/// are different ids.
public enum RequestID: Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    case text(String)
    case number(Int64)

    /// The longest id, in UTF-8 bytes of its text.
    public static let maxBytes = 128

    public init(stringLiteral value: String) { self = .text(value) }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            self = .text(text)
        } else if let number = try? container.decode(Int64.self) {
            self = .number(number)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "an id is a string or an integer")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .text(let text): try container.encode(text)
        case .number(let number): try container.encode(number)
        }
    }

    /// The id as text (for logs): a number in decimal.
    public var description: String {
        switch self {
        case .text(let text): text
        case .number(let number): String(number)
        }
    }
}

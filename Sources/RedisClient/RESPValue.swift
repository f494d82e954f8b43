import NIOCore

/// One RESP2 reply, as hiredis's reader parsed it. Bulk strings keep their bytes as they came (binary
/// safe); a nil bulk string or nil array is `.null`.
public enum RESPValue: Sendable, Hashable {
    /// A status reply (`+OK`).
    case status(String)
    /// An error reply (`-ERR …`): a value, not a thrown error, so a pipeline keeps its other replies.
    case error(String)
    case integer(Int64)
    case bulkString(ByteBuffer)
    case null
    case array([RESPValue])

    /// The bytes of a bulk string or the text of a status, as UTF-8; nil for other kinds.
    public var string: String? {
        switch self {
        case .bulkString(let buffer): String(buffer: buffer)
        case .status(let text): text
        default: nil
        }
    }

    /// The bytes of a bulk string; nil for other kinds.
    public var bytes: [UInt8]? {
        guard case .bulkString(let buffer) = self else { return nil }
        return Array(buffer.readableBytesView)
    }

    /// An integer reply, or a bulk string holding a decimal integer.
    public var int: Int64? {
        switch self {
        case .integer(let value): value
        case .bulkString(let buffer): Int64(String(buffer: buffer))
        default: nil
        }
    }

    public var array: [RESPValue]? {
        guard case .array(let values) = self else { return nil }
        return values
    }

    /// Throws ``RedisError/server(_:)`` for an error reply; returns the reply otherwise.
    public func checked() throws(RedisError) -> RESPValue {
        if case .error(let message) = self { throw .server(message) }
        return self
    }
}

/// One argument of a command: binary-safe bytes.
public struct RedisArgument: Sendable, Hashable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public var bytes: [UInt8]

    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public init(_ string: String) { self.bytes = Array(string.utf8) }
    public init<I: BinaryInteger>(_ value: I) { self.bytes = Array(String(value).utf8) }
    public init(stringLiteral value: String) { self.init(value) }
    public init(integerLiteral value: Int) { self.init(value) }
}

/// A command and its arguments, e.g. `["SET", key, value, "PX", 500]`.
public typealias RedisCommand = [RedisArgument]

import CHiredis
import NIOCore

/// Formats commands with hiredis's `redisFormatCommandArgv` (RESP2 multi-bulk, binary safe).
public enum RESPEncoder {
    /// Appends `command` to `buffer`.
    public static func encode(_ command: RedisCommand, into buffer: inout ByteBuffer) {
        precondition(!command.isEmpty, "a command has a name")
        // One contiguous copy of every argument, plus a byte so the base pointer exists even when all are empty.
        var joined: [UInt8] = []
        joined.reserveCapacity(command.reduce(1) { $0 + $1.bytes.count })
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(command.count)
        lengths.reserveCapacity(command.count)
        for argument in command {
            offsets.append(joined.count)
            lengths.append(argument.bytes.count)
            joined.append(contentsOf: argument.bytes)
        }
        joined.append(0)
        joined.withUnsafeBufferPointer { all in
            let base = UnsafeRawPointer(all.baseAddress!).assumingMemoryBound(to: CChar.self)
            var argv: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
            var formatted: UnsafeMutablePointer<CChar>?
            let length = argv.withUnsafeMutableBufferPointer { argv in
                redisFormatCommandArgv(&formatted, Int32(command.count), argv.baseAddress, lengths)
            }
            guard length >= 0, let formatted else { fatalError("hiredis could not allocate a command buffer") }
            defer { redisFreeCommand(formatted) }
            buffer.writeBytes(UnsafeRawBufferPointer(start: formatted, count: Int(length)))
        }
    }
}

/// Parses RESP2 replies with hiredis's `redisReader`. Not thread-safe: one per connection, used on its
/// event loop. Bytes fed in are copied by hiredis; a reply split anywhere is completed by later bytes.
public final class RESPReader {
    private let reader: UnsafeMutablePointer<redisReader>

    public init() {
        guard let reader = redisReaderCreate() else { fatalError("hiredis could not allocate a reader") }
        self.reader = reader
    }

    deinit { redisReaderFree(reader) }

    /// Hands bytes to the reader.
    public func feed(_ bytes: UnsafeRawBufferPointer) throws(RedisError) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        if redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) != REDIS_OK {
            throw .protocolViolation(error)
        }
    }

    /// The next complete reply, or nil until more bytes arrive. After a thrown error the stream is broken.
    public func next() throws(RedisError) -> RESPValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else { throw .protocolViolation(error) }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        return Self.value(raw.assumingMemoryBound(to: redisReply.self))
    }

    private var error: String {
        withUnsafeBytes(of: reader.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    private static func value(_ reply: UnsafeMutablePointer<redisReply>) -> RESPValue {
        let reply = reply.pointee
        func text() -> String {
            guard let str = reply.str else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: str, count: reply.len), as: UTF8.self)
        }
        switch reply.type {
        case REDIS_REPLY_STATUS: return .status(text())
        case REDIS_REPLY_ERROR: return .error(text())
        case REDIS_REPLY_INTEGER: return .integer(Int64(reply.integer))
        case REDIS_REPLY_NIL: return .null
        case REDIS_REPLY_STRING:
            guard let str = reply.str else { return .bulkString(ByteBuffer()) }
            return .bulkString(ByteBuffer(bytes: UnsafeRawBufferPointer(start: str, count: reply.len)))
        case REDIS_REPLY_ARRAY:
            guard let elements = reply.element else { return .array([]) }
            return .array((0..<reply.elements).map { value(elements[$0]!) })
        default:
            return .error("unknown reply type \(reply.type)")
        }
    }
}

/// The NIO decoder: bytes in, replies out, through one ``RESPReader``.
struct RESPReplyDecoder: ByteToMessageDecoder {
    typealias InboundOut = RESPValue
    private let reader = RESPReader()

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        if buffer.readableBytes > 0 {
            try buffer.readableBytesView.withUnsafeBytes { try reader.feed($0) }
            buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        }
        while let reply = try reader.next() {
            context.fireChannelRead(wrapInboundOut(reply))
        }
        return .needMoreData
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        _ = try decode(context: context, buffer: &buffer)
        return .needMoreData
    }
}

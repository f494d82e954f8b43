import NIOCore

/// The bytes of one outbound text frame, made once for every socket that gets them. The payload is
/// the buffer's readable bytes; the header a WebSocket server puts in front of it (RFC 6455, 5.2: FIN,
/// opcode 1, no mask, the payload's length) sits in the bytes just before the reader index. So a
/// transport that does not speak WebSocket sees the payload alone, and a WebSocket transport writes
/// header and payload as one buffer, shared by every socket, instead of a header buffer of its own
/// per socket and frame (``withHeader(_:)``).
public enum TextFrame {
    /// A buffer holding `payload`, with its WebSocket header in front of the reader index.
    public static func buffer(_ payload: [UInt8]) -> ByteBuffer {
        let header = headerLength(payload.count)
        var buffer = ByteBufferAllocator().buffer(capacity: header + payload.count)
        writeHeader(length: payload.count, into: &buffer)
        buffer.writeBytes(payload)
        buffer.moveReaderIndex(forwardBy: header)
        return buffer
    }

    /// The whole frame, header and payload, when the bytes before `frame`'s reader index are the
    /// header its payload needs (as ``buffer(_:)`` makes it); nil for a buffer without it. Moving the
    /// reader index copies nothing: every socket shares the bytes.
    public static func withHeader(_ frame: ByteBuffer) -> ByteBuffer? {
        let length = frame.readableBytes
        let header = headerLength(length)
        let start = frame.readerIndex - header
        guard start >= 0 else { return nil }
        // A buffer reads only its readable bytes: the copy's reader index goes back over the header.
        var whole = frame
        whole.moveReaderIndex(to: start)
        guard whole.getInteger(at: start, as: UInt8.self) == finText, let second = whole.getInteger(at: start + 1, as: UInt8.self) else {
            return nil
        }
        switch header {
        case 2: guard second == UInt8(length) else { return nil }
        case 4: guard second == 126, whole.getInteger(at: start + 2, as: UInt16.self) == UInt16(length) else { return nil }
        default: guard second == 127, whole.getInteger(at: start + 2, as: UInt64.self) == UInt64(length) else { return nil }
        }
        return whole
    }

    /// FIN set, opcode 1 (text).
    private static let finText: UInt8 = 0x81

    /// The header's length for a payload of `length` bytes: the length fits in 7 bits, 16 or 64.
    static func headerLength(_ length: Int) -> Int {
        length <= 125 ? 2 : length <= Int(UInt16.max) ? 4 : 10
    }

    private static func writeHeader(length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(finText)
        switch headerLength(length) {
        case 2: buffer.writeInteger(UInt8(length))
        case 4:
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
    }
}

import ChatNode
import NIOCore
import Testing

/// ``TextFrame``: the payload readable, the WebSocket header (RFC 6455, 5.2) in front of it, found
/// again only where it is the header that payload needs.
@Suite struct TextFrameTests {
    @Test(arguments: [(0, [0x81, 0x00]), (125, [0x81, 125]), (126, [0x81, 126, 0x00, 126]), (65_535, [0x81, 126, 0xFF, 0xFF]),
        (65_536, [0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0])] as [(Int, [UInt8])])
    func theHeaderSitsBeforeThePayload(length: Int, header: [UInt8]) {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0) }
        let frame = TextFrame.buffer(payload)
        #expect(Array(buffer: frame) == payload, "readers see the payload alone")
        let whole = TextFrame.withHeader(frame)
        #expect(whole.map { Array(buffer: $0) } == header + payload, "the whole frame, header first")
    }

    @Test func aBufferWithoutItsHeaderHasNone() {
        #expect(TextFrame.withHeader(ByteBuffer(bytes: Array("plain".utf8))) == nil, "nothing in front")
        // Bytes in front that are not this payload's header: a slice of a longer frame.
        var shorter = TextFrame.buffer(Array("hello".utf8))
        shorter.moveWriterIndex(to: shorter.writerIndex - 1)
        #expect(TextFrame.withHeader(shorter) == nil, "the length in front is 5, the payload 4")
        var moved = TextFrame.buffer(Array("hello".utf8))
        moved.moveReaderIndex(forwardBy: 1)
        #expect(TextFrame.withHeader(moved) == nil, "the byte in front is payload, not a header")
    }
}

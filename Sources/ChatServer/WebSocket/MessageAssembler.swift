import ChatNode
import HummingbirdWebSocket
import NIOCore

/// Turns a WebSocket's data frames into whole messages, enforcing the frame limit as bytes arrive:
/// a message over `maxBytes` is not buffered past the limit and comes out as ``InboundMessage/tooLarge(_:)``,
/// so the connection survives it.
struct MessageAssembler: AsyncSequence, Sendable {
    typealias Element = InboundMessage
    let frames: WebSocketInboundStream
    let maxBytes: Int

    struct AsyncIterator: AsyncIteratorProtocol {
        var inner: WebSocketInboundStream.AsyncIterator
        let maxBytes: Int

        mutating func next() async throws -> InboundMessage? {
            var buffer = ByteBuffer()
            var size = 0
            var isText = true
            while let frame = try await inner.next() {
                switch frame.opcode {
                case .text:
                    isText = true
                case .binary:
                    isText = false
                case .continuation:
                    break
                }
                size += frame.data.readableBytes
                if size <= maxBytes {
                    var data = frame.data
                    buffer.writeBuffer(&data)
                } else {
                    buffer.clear()
                }
                guard frame.fin else { continue }
                if size > maxBytes { return .tooLarge(size) }
                return isText ? .text(buffer) : .binary
            }
            return nil
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(inner: frames.makeAsyncIterator(), maxBytes: maxBytes)
    }
}

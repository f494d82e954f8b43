import ChatNode
import ChatWire
import NIOCore
import NIOWebSocket

/// The close handshake of a close the node starts, on the channel's event loop: once a close frame
/// has gone out, nothing more is written (RFC 6455, 5.5.1: a second close, a ping, a late frame are
/// dropped), and the client's answering close frame completes the handshake: the socket closes then
/// (a client that never answers is dropped after the close timeout, ``ChatHTTPServer``). A close the
/// client starts passes through to the WebSocket handler, which answers it.
///
/// So a close the node asks for needs no task waiting beside the connection for it: the outbox hands
/// the request to the ``SocketSink``, which writes the close frame after the frames queued before it
/// (about 3.5 KiB less per idle connection; bench/RESULTS.md, issue 16's tenth step). It sits right
/// after the frame decoder, where frames are decoded on their way in and not yet encoded on their way
/// out.
final class CloseHandshake: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var closeSent = false

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !closeSent else {
            promise?.succeed()
            return
        }
        if unwrapOutboundIn(data).opcode == .connectionClose { closeSent = true }
        context.write(data, promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard closeSent, unwrapInboundIn(data).opcode == .connectionClose else {
            context.fireChannelRead(data)
            return
        }
        context.close(promise: nil)
    }

    /// A close frame with `code` and `reason`.
    static func frame(code: CloseCode, reason: String, allocator: ByteBufferAllocator) -> WebSocketFrame {
        var payload = allocator.buffer(capacity: 2 + reason.utf8.count)
        payload.write(webSocketErrorCode: WebSocketErrorCode(codeNumber: Int(code.rawValue)))
        payload.writeString(reason)
        return WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)
    }
}

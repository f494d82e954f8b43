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
///
/// It also writes the frames that come with their header made (``TextFrame``): the ``SocketSink``
/// hands them here, and they go to the handler below the frame encoder as they are, one buffer per
/// frame shared by every socket, under the same rule (nothing after a close). Everything written
/// either way passes here on the channel's event loop, so the order of the writes is kept.
final class CloseHandshake: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = WebSocketFrame
    typealias InboundOut = WebSocketFrame
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private var closeSent = false
    /// The frame encoder's context: a write made through it reaches the handlers below the encoder.
    private var encoder: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) {
        encoder = try? context.pipeline.syncOperations.context(handlerType: WebSocketFrameEncoder.self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        encoder = nil
    }

    /// Writes `frame` whole when it carries its header (``TextFrame/withHeader(_:)``) and returns
    /// true; false (nothing written) for a frame without one, which the caller writes as a
    /// `WebSocketFrame`. Called on the channel's event loop.
    func writeFramed(_ frame: ByteBuffer, promise: EventLoopPromise<Void>?) -> Bool {
        guard let encoder, let whole = TextFrame.withHeader(frame) else { return false }
        if closeSent {
            promise?.succeed()
        } else {
            encoder.write(NIOAny(whole), promise: promise)
        }
        return true
    }

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

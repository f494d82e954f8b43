import NIOCore
import NIOWebSocket

/// Finds a WebSocket client that vanished without closing (a dead network path, a suspended laptop):
/// every `interval` it pings the client, and when a whole interval after a ping passes with nothing
/// read from the socket (no pong, no frame) it closes the connection with 1001 (going away). So a
/// client that leaves a ping unanswered for one interval is closed, and one that talks is never pinged
/// out.
///
/// It sits first in the channel's pipeline, where it sees the bytes the socket reads, and runs on the
/// channel's event loop: a handler and one timer per connection, no task (a task that sleeps beside
/// each idle connection costs it about 3 KiB; bench/RESULTS.md, issue 16's tenth step). The ping is a
/// control frame written into the channel; the WebSocket handler answers nothing for it and ignores
/// the client's pong.
final class KeepAlive: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let interval: TimeAmount
    /// Whether the socket read anything since the last tick.
    private var heard = true
    private var timer: Scheduled<Void>?

    init(interval: Duration) {
        self.interval = TimeAmount(interval)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        if timer == nil { arm(context) }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        heard = true
        context.fireChannelRead(data)
    }

    func channelInactive(context: ChannelHandlerContext) {
        stop()
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stop()
    }

    private func stop() {
        timer?.cancel()
        timer = nil
    }

    private func arm(_ context: ChannelHandlerContext) {
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: interval) { [self] in tick(context) }
    }

    private func tick(_ context: ChannelHandlerContext) {
        let channel = context.channel
        guard heard else {
            timer = nil
            var payload = channel.allocator.buffer(capacity: 16)
            payload.write(webSocketErrorCode: .goingAway)
            payload.writeString("ping timeout")
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, data: payload)).whenComplete { _ in
                channel.close(promise: nil)
            }
            return
        }
        heard = false
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .ping, data: channel.allocator.buffer(capacity: 0)), promise: nil)
        arm(context)
    }
}

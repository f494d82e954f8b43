import ChatNode
import NIOCore
import NIOWebSocket

/// Writes a connection's outbox to its WebSocket on the channel's event loop: woken once per burst,
/// it takes every queued frame, writes each as a text frame and flushes once, so a fan-out costs one
/// event-loop task and one `writev` per socket per burst, and no Swift task hop per frame. The frames
/// are reported written (freeing the outbox's capacity) when the last of the burst reaches the socket.
/// A slow consumer's frames are not written: its 4002 close goes straight into the channel instead.
struct SocketSink: OutboundSink {
    let channel: any Channel

    func wake(_ outbox: Outbox) {
        channel.eventLoop.execute { drain(outbox) }
    }

    private func drain(_ outbox: Outbox) {
        let frames = outbox.take().frames
        guard let last = frames.last else { return }
        if outbox.isSlowConsumer {
            outbox.written(frames.count)
            return
        }
        for frame in frames.dropLast() {
            channel.write(WebSocketFrame(fin: true, opcode: .text, data: frame), promise: nil)
        }
        let promise = channel.eventLoop.makePromise(of: Void.self)
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, data: last), promise: promise)
        let count = frames.count
        promise.futureResult.whenComplete { _ in outbox.written(count) }
    }
}

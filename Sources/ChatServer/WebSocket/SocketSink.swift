import ChatNode
import NIOCore
import NIOWebSocket

/// Writes a connection's outbox to its WebSocket on the channel's event loop: woken once per burst,
/// it takes every queued frame, writes each as a text frame and flushes once, so a fan-out costs one
/// event-loop task and one `writev` per socket per burst, and no Swift task hop per frame. The frames
/// are reported written (freeing the outbox's capacity) when handed over while the channel is
/// writable, else when the last of the burst reaches the socket: what a client that stopped reading
/// leaves behind is bounded by NIO's write-buffer high-water mark plus the outbox's capacity.
/// A close the node asked for is written after the frames queued before it, as a close frame with its
/// code and reason (``CloseHandshake`` then completes the handshake). A slow consumer's frames are not
/// written: its 4002 close goes straight into the channel instead. Frames that carry their header
/// (``TextFrame``, every frame the node makes) are written whole through ``CloseHandshake``, below
/// NIO's frame encoder: one buffer per frame, the same for every socket.
struct SocketSink: OutboundSink {
    let channel: any Channel
    /// The connection's close handshake, once it is in the pipeline (set on the event loop).
    let handshake: NIOLoopBoundBox<CloseHandshake?>

    func wake(_ outbox: Outbox) {
        channel.eventLoop.execute { drain(outbox) }
    }

    private func drain(_ outbox: Outbox) {
        let batch = outbox.take()
        let frames = batch.frames
        if outbox.isSlowConsumer {
            outbox.written(frames.count)
            return
        }
        if let last = frames.last {
            // While the socket takes what it is given (below NIO's high-water mark), a burst counts as
            // written once handed over; when it stopped taking (a client that does not read), the
            // burst counts against the outbox until its last frame reaches the socket.
            let writable = channel.isWritable
            let handshake = handshake.value
            for frame in frames.dropLast() { write(frame, through: handshake, promise: nil) }
            let count = frames.count
            if writable {
                write(last, through: handshake, promise: nil)
                outbox.written(count)
            } else {
                let promise = channel.eventLoop.makePromise(of: Void.self)
                write(last, through: handshake, promise: promise)
                promise.futureResult.whenComplete { _ in outbox.written(count) }
            }
        }
        if let close = batch.close {
            channel.write(CloseHandshake.frame(code: close.code, reason: close.reason, allocator: channel.allocator), promise: nil)
        }
        if !frames.isEmpty || batch.close != nil { channel.flush() }
    }

    private func write(_ frame: ByteBuffer, through handshake: CloseHandshake?, promise: EventLoopPromise<Void>?) {
        if let handshake, handshake.writeFramed(frame, promise: promise) { return }
        channel.write(WebSocketFrame(fin: true, opcode: .text, data: frame), promise: promise)
    }
}

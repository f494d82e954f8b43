@testable import ChatServer
import ChatCore
import ChatNode
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// How ``SocketSink`` puts an outbox's frames on a WebSocket channel: frames that carry their header
/// go down as one buffer each, below NIO's encoder; others through the encoder; and once the close
/// frame is out, nothing more.
@Suite struct SocketSinkTests {
    /// A channel with the WebSocket handlers of an upgraded connection, the sink and an outbox on it.
    struct Fixture {
        let channel = EmbeddedChannel()
        let handshake = CloseHandshake()
        let outbox: Outbox

        init() throws {
            try channel.pipeline.syncOperations.addHandlers(
                WebSocketFrameEncoder(), ByteToMessageHandler(WebSocketFrameDecoder()), handshake)
            let box = NIOLoopBoundBox.makeEmptyBox(valueType: CloseHandshake.self, eventLoop: channel.eventLoop)
            box.value = handshake
            outbox = Outbox(capacity: 16, sink: SocketSink(channel: channel, handshake: box))
        }

        /// Runs the loop and returns each buffer that reached the socket, in order.
        func writes() throws -> [[UInt8]] {
            channel.embeddedEventLoop.run()
            var writes: [[UInt8]] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { writes.append(Array(buffer: buffer)) }
            return writes
        }
    }

    @Test func framesWithTheirHeaderAreWrittenWholeAndOthersThroughTheEncoder() throws {
        let fixture = try Fixture()
        let long = [UInt8](repeating: 0x61, count: 300)
        fixture.outbox.send(bytes: Array("hello".utf8))
        fixture.outbox.send(TextFrame.buffer(long))
        fixture.outbox.send(ByteBuffer(bytes: Array("plain".utf8)))
        let writes = try fixture.writes()
        #expect(writes.count == 4, "one buffer for each made frame, two (header, payload) for the plain one")
        #expect(writes.first == [0x81, 5] + Array("hello".utf8))
        #expect(writes.dropFirst().first == [0x81, 126, 0x01, 0x2C] + long)
        #expect(Array(writes.dropFirst(2).joined()) == [0x81, 5] + Array("plain".utf8), "the encoder frames it the same way")
        #expect(fixture.outbox.backlog == 0, "reported written")
    }

    @Test func nothingIsWrittenAfterTheCloseFrame() throws {
        let fixture = try Fixture()
        fixture.outbox.send(bytes: Array("last".utf8))
        fixture.outbox.close(.serviceRestart, reason: "bye")
        let writes = try fixture.writes()
        #expect(writes.first == [0x81, 4] + Array("last".utf8), "the frame queued before the close, first")
        #expect(writes.dropFirst().joined().first == 0x88, "then the close frame")
        let promise = fixture.channel.eventLoop.makePromise(of: Void.self)
        #expect(fixture.handshake.writeFramed(TextFrame.buffer(Array("late".utf8)), promise: promise), "taken")
        fixture.channel.write(WebSocketFrame(fin: true, opcode: .ping, data: ByteBuffer()), promise: nil)
        #expect(try fixture.writes().isEmpty, "but dropped, as a ping after the close is")
        #expect(throws: Never.self) { try promise.futureResult.wait() }
    }
}

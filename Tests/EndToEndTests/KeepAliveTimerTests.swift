@testable import ChatServer
import NIOCore
import NIOEmbedded
import NIOWebSocket
import Testing

/// ``KeepAlive`` on an embedded event loop, whose clock only the test moves: a ping every interval, any
/// bytes read in between count as an answer, and a whole interval after a ping with nothing read
/// closes the channel with 1001.
@Suite struct KeepAliveTimerTests {
    /// The keep-alive's interval; the test moves the loop's clock by ``tick``, the same span.
    static let interval = Duration.milliseconds(200)
    static let tick = TimeAmount(interval)

    /// An active channel with the WebSocket frame encoder and the keep-alive in front of it.
    static func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers(WebSocketFrameEncoder(), KeepAlive(interval: Self.interval))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    /// The frames written since the last call: each one's opcode and, for a close, its code.
    static func written(_ channel: EmbeddedChannel) throws -> [(opcode: WebSocketOpcode, code: UInt16?)] {
        var frames: [(opcode: WebSocketOpcode, code: UInt16?)] = []
        var bytes = ByteBuffer()
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) { bytes.writeBuffer(&buffer) }
        // Server frames are unmasked: an opcode byte, a 7-bit length (every control frame fits), the payload.
        while let head = bytes.readInteger(as: UInt8.self), let length = bytes.readInteger(as: UInt8.self) {
            var payload = bytes.readSlice(length: Int(length)) ?? ByteBuffer()
            let opcode = WebSocketOpcode(encodedWebSocketOpcode: head & 0x0F)!
            frames.append((opcode, opcode == .connectionClose ? payload.readInteger(as: UInt16.self) : nil))
        }
        return frames
    }

    @Test func aClientThatAnswersEveryPingIsNeverPingedOut() throws {
        let channel = try Self.channel()
        for round in 1...4 {
            channel.embeddedEventLoop.advanceTime(by: Self.tick)
            let frames = try Self.written(channel)
            #expect(frames.map(\.opcode) == [.ping], "round \(round): one ping, no close")
            // The pong (masked, empty) as the socket reads it; any bytes would count.
            try channel.writeInbound(ByteBuffer(bytes: [0x8A, 0x80, 1, 2, 3, 4]))
            _ = try channel.readInbound(as: ByteBuffer.self)
        }
        #expect(channel.isActive, "still open after four answered pings")
        _ = try channel.finish()
    }

    @Test func aPingLeftUnansweredForAnIntervalClosesWith1001() throws {
        let channel = try Self.channel()
        channel.embeddedEventLoop.advanceTime(by: Self.tick)
        #expect(try Self.written(channel).map(\.opcode) == [.ping])
        channel.embeddedEventLoop.advanceTime(by: Self.tick - .milliseconds(1))
        #expect(try Self.written(channel).isEmpty && channel.isActive, "nothing before the interval is over")
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1))
        let frames = try Self.written(channel)
        #expect(frames.map(\.opcode) == [.connectionClose] && frames.first?.code == 1001, "going away")
        #expect(!channel.isActive, "and the channel is closed")
    }
}

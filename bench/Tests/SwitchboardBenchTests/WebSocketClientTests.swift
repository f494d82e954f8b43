import NIOCore
import NIOEmbedded
import Testing

@testable import SwitchboardBench

/// The harness's WebSocket framing, on an embedded channel: the upgrade, frames however the reads cut
/// them, fragments, pings, masking, and the close.
@Suite struct WebSocketClientTests {
    /// A client on an embedded channel, past its upgrade; what its socket is handed, collected.
    final class Rig {
        let channel = EmbeddedChannel()
        let socket: BenchSocket
        let welcome: EventLoopPromise<Void>
        var texts: [String] = []
        var closedWith: [Int?] = []

        init() throws {
            let loop = channel.embeddedEventLoop
            welcome = loop.makePromise()
            nonisolated(unsafe) var collected: Rig?
            socket = BenchSocket(
                user: "u", loop: loop,
                events: BenchSocket.Events(
                    frame: { _, scanner in collected?.texts.append(String(buffer: scanner.buffer)) },
                    closed: { _, code in collected?.closedWith.append(code) }))
            let upgrade = WebSocketClient.Upgrade(host: "h", port: 1, path: "/v1/ws", firstFrame: #"{"type":"auth"}"#)
            try channel.pipeline.syncOperations.addHandler(WebSocketClient(socket: socket, upgrade: upgrade, welcome: welcome))
            collected = self
            channel.pipeline.fireChannelActive()
        }

        /// Bytes the client wrote, as one buffer.
        func written() throws -> ByteBuffer {
            var all = ByteBuffer()
            while var next = try channel.readOutbound(as: ByteBuffer.self) { all.writeBuffer(&next) }
            return all
        }

        func receive(_ bytes: [UInt8]) throws { try channel.writeInbound(ByteBuffer(bytes: bytes)) }
    }

    /// An unmasked server frame.
    static func serverFrame(_ opcode: UInt8, _ payload: [UInt8], fin: Bool = true) -> [UInt8] {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | opcode]
        if payload.count < 126 {
            frame.append(UInt8(payload.count))
        } else {
            frame += [126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        return frame + payload
    }

    static func text(_ string: String, fin: Bool = true) -> [UInt8] { serverFrame(1, Array(string.utf8), fin: fin) }

    /// Unmasks one client frame: its opcode and payload.
    static func clientFrame(_ buffer: inout ByteBuffer) -> (UInt8, String)? {
        guard let first = buffer.readInteger(as: UInt8.self), let second = buffer.readInteger(as: UInt8.self) else { return nil }
        #expect(second & 0x80 != 0, "a client frame is masked")
        var length = Int(second & 0x7F)
        if length == 126 { length = Int(buffer.readInteger(as: UInt16.self)!) }
        let mask = buffer.readBytes(length: 4)!
        let masked = buffer.readBytes(length: length)!
        return (first & 0x0F, String(decoding: masked.enumerated().map { $0.element ^ mask[$0.offset % 4] }, as: UTF8.self))
    }

    static let head = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n".utf8)

    @Test func upgradesThenSendsTheAuthAndIsWelcomed() throws {
        let rig = try Rig()
        let request = String(buffer: try rig.written())
        #expect(request.hasPrefix("GET /v1/ws HTTP/1.1\r\n") && request.contains("Upgrade: websocket\r\n"))
        // The head and the first frames in one read, the head cut in two reads before it.
        try rig.receive(Array(Self.head.prefix(10)))
        try rig.receive(Array(Self.head.dropFirst(10)) + Self.text(#"{"type":"ack","re":"auth"}"#) + Self.text(#"{"type":"welcome"}"#))
        var out = try rig.written()
        let auth = Self.clientFrame(&out)
        #expect(auth?.0 == 1 && auth?.1 == #"{"type":"auth"}"#)
        try rig.welcome.futureResult.wait()
        #expect(rig.socket.isOpen)
    }

    @Test func framesAreCutHoweverTheReadsCutThem() throws {
        let rig = try Rig()
        try rig.receive(Self.head + Self.text(#"{"type":"welcome"}"#))
        let long = #"{"type":"message.new","content":""# + String(repeating: "x", count: 300) + #""}"#
        let stream = Self.text(#"{"type":"a"}"#) + Self.text(long) + Self.text(#"{"type":"part"#, fin: false)
            + Self.serverFrame(0, Array(#" two"}"#.utf8)) + Self.text(#"{"type":"b"}"#)
        // One byte at a time: every frame boundary and length field falls across reads.
        for byte in stream { try rig.receive([byte]) }
        #expect(rig.texts == [#"{"type":"a"}"#, long, #"{"type":"part two"}"#, #"{"type":"b"}"#])
    }

    @Test func aPingIsAnsweredAndACloseEndsTheSocket() throws {
        let rig = try Rig()
        try rig.receive(Self.head + Self.text(#"{"type":"welcome"}"#))
        _ = try rig.written()
        try rig.receive(Self.serverFrame(9, Array("hi".utf8)))
        var out = try rig.written()
        let pong = Self.clientFrame(&out)
        #expect(pong?.0 == 10 && pong?.1 == "hi")
        try rig.receive(Self.serverFrame(8, [0x03, 0xF4]))  // 1012
        #expect(rig.closedWith == [1012])
        #expect(!rig.socket.isOpen)
    }

    @Test func aRefusedUpgradeFailsTheConnect() throws {
        let rig = try Rig()
        try rig.receive(Array("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n".utf8))
        #expect(throws: (any Error).self) { try rig.welcome.futureResult.wait() }
    }
}

import Foundation
import NIOCore
import NIOPosix

/// The client side of one WebSocket, written straight on its channel's bytes: it sends the upgrade
/// request, checks the 101, sends the first frame (the `auth`), then cuts what arrives into frames
/// and hands each complete text message to its ``BenchSocket`` as a ``FrameScanner``, without a frame
/// object, an HTTP codec or a copy per frame. Pings are answered; a close frame ends the socket.
///
/// A harness that receives 100,000 frames a second on one core has about 5 µs for each, kernel
/// included (bench/README.md, "The harness's own cost"); NIO's generic WebSocket pipeline spent more
/// than that before a frame reached the harness.
final class WebSocketClient: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// What the upgrade asks for.
    struct Upgrade: Sendable {
        var host: String
        var port: Int
        var path: String
        /// Sent as the first text frame once the upgrade succeeded.
        var firstFrame: String
    }

    enum Opcode: UInt8 {
        case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10
    }

    /// The largest message accepted from a server.
    static let maxMessageBytes = 1 << 22

    private enum State {
        case upgrading
        case open
        case closed
    }

    private let socket: BenchSocket
    private let upgrade: Upgrade
    private let welcome: EventLoopPromise<Void>
    private var state = State.upgrading
    private var welcomed = false
    /// Bytes received and not yet a whole frame (or, while upgrading, a whole response head).
    private var unread: ByteBuffer?
    /// A text message whose later fragments have not all arrived.
    private var fragments: ByteBuffer?

    init(socket: BenchSocket, upgrade: Upgrade, welcome: EventLoopPromise<Void>) {
        self.socket = socket
        self.upgrade = upgrade
        self.welcome = welcome
    }

    /// One masked client frame (RFC 6455 §5.3: every client frame is masked). The key comes from a
    /// fast generator seeded once per thread: a system random number per frame costs a syscall.
    static func frame(_ opcode: Opcode, payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let length = payload.readableBytes
        var frame = allocator.buffer(capacity: length + 14)
        frame.writeInteger(0x80 | opcode.rawValue)
        if length < 126 {
            frame.writeInteger(0x80 | UInt8(length))
        } else if length <= 0xFFFF {
            frame.writeInteger(UInt8(0x80 | 126))
            frame.writeInteger(UInt16(length))
        } else {
            frame.writeInteger(UInt8(0x80 | 127))
            frame.writeInteger(UInt64(length))
        }
        let key = MaskKeys.next()
        frame.writeInteger(key)
        let mask = (UInt8(truncatingIfNeeded: key >> 24), UInt8(truncatingIfNeeded: key >> 16), UInt8(truncatingIfNeeded: key >> 8), UInt8(truncatingIfNeeded: key))
        payload.withUnsafeReadableBytes { bytes in
            _ = frame.writeWithUnsafeMutableBytes(minimumWritableBytes: bytes.count) { out in
                for index in 0..<bytes.count {
                    let byte: UInt8
                    switch index & 3 {
                    case 0: byte = mask.0
                    case 1: byte = mask.1
                    case 2: byte = mask.2
                    default: byte = mask.3
                    }
                    out[index] = bytes[index] ^ byte
                }
                return bytes.count
            }
        }
        return frame
    }

    func channelActive(context: ChannelHandlerContext) {
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let head =
            "GET \(upgrade.path) HTTP/1.1\r\nHost: \(upgrade.host):\(upgrade.port)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: head)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if var earlier = unread {
            unread = nil
            earlier.writeBuffer(&bytes)
            bytes = earlier
        }
        if case .upgrading = state {
            guard readResponseHead(&bytes, context: context) else { return }
        }
        while case .open = state, let frame = nextFrame(&bytes, context: context) {
            handle(frame, context: context)
        }
        if bytes.readableBytes > 0, case .open = state { unread = bytes }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        socket.ended(code: nil)
        welcome.fail(BenchError("the connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: Reading

    /// Reads the upgrade response's head; true once the connection is a WebSocket (what follows the
    /// head stays in `bytes`). A refusal closes the connection.
    private func readResponseHead(_ bytes: inout ByteBuffer, context: ChannelHandlerContext) -> Bool {
        let view = bytes.readableBytesView
        guard let end = view.firstRange(of: [13, 10, 13, 10]) else {
            if bytes.readableBytes > 16_384 { context.close(promise: nil) } else { unread = bytes }
            return false
        }
        let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
        bytes.moveReaderIndex(to: end.upperBound)
        guard head.hasPrefix("HTTP/1.1 101") else {
            welcome.fail(BenchError("the upgrade was refused: \(head.prefix { $0 != "\r" })"))
            context.close(promise: nil)
            return false
        }
        state = .open
        socket.opened()
        context.writeAndFlush(wrapOutboundOut(Self.frame(.text, payload: ByteBuffer(string: upgrade.firstFrame), allocator: context.channel.allocator)), promise: nil)
        return true
    }

    /// The next whole frame in `bytes` (its opcode, fin bit and unmasked payload), or nil when it has
    /// not all arrived.
    private func nextFrame(_ bytes: inout ByteBuffer, context: ChannelHandlerContext) -> (opcode: UInt8, fin: Bool, payload: ByteBuffer)? {
        let start = bytes.readerIndex
        guard let first = bytes.getInteger(at: start, as: UInt8.self), let second = bytes.getInteger(at: start + 1, as: UInt8.self) else { return nil }
        var offset = start + 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let value = bytes.getInteger(at: offset, as: UInt16.self) else { return nil }
            length = Int(value)
            offset += 2
        } else if length == 127 {
            guard let value = bytes.getInteger(at: offset, as: UInt64.self) else { return nil }
            guard value <= UInt64(Self.maxMessageBytes) else {
                context.close(promise: nil)
                state = .closed
                return nil
            }
            length = Int(value)
            offset += 8
        }
        var mask: [UInt8]?
        if second & 0x80 != 0 {
            guard let key = bytes.getBytes(at: offset, length: 4) else { return nil }
            mask = key
            offset += 4
        }
        guard var payload = bytes.getSlice(at: offset, length: length) else { return nil }
        bytes.moveReaderIndex(to: offset + length)
        if let mask {
            // Servers do not mask; one that does is still understood.
            payload = ByteBuffer(bytes: payload.readableBytesView.enumerated().map { $0.element ^ mask[$0.offset & 3] })
        }
        return (first & 0x0F, first & 0x80 != 0, payload)
    }

    private func handle(_ frame: (opcode: UInt8, fin: Bool, payload: ByteBuffer), context: ChannelHandlerContext) {
        switch Opcode(rawValue: frame.opcode) {
        case .text:
            if frame.fin { message(frame.payload) } else { fragments = frame.payload }
        case .continuation:
            guard var whole = fragments else { return }
            var payload = frame.payload
            whole.writeBuffer(&payload)
            if whole.readableBytes > Self.maxMessageBytes {
                context.close(promise: nil)
                return
            }
            fragments = frame.fin ? nil : whole
            if frame.fin { message(whole) }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(Self.frame(.pong, payload: frame.payload, allocator: context.channel.allocator)), promise: nil)
        case .close:
            var payload = frame.payload
            let code = payload.readInteger(as: UInt16.self).map(Int.init)
            state = .closed
            socket.ended(code: code)
            context.close(promise: nil)
        case .binary, .pong, nil:
            break
        }
    }

    /// A whole text message: the `welcome` (and the auth's ack before it) completes the connect;
    /// everything after goes to the socket.
    private func message(_ payload: ByteBuffer) {
        let scanner = FrameScanner(payload)
        guard welcomed else {
            if scanner.string(.type, is: "welcome") {
                welcomed = true
                welcome.succeed(())
            } else if !scanner.string(.type, is: "ack") {  // the auth frame's ack comes before the welcome
                welcome.fail(BenchError("refused: \(String(buffer: payload))"))
            }
            return
        }
        socket.received(scanner)
    }
}

/// Masking keys for client frames: xorshift64*, one state per thread, seeded from the system's random
/// numbers. A masking key only has to be unpredictable to scripts in a browser; the harness has none.
private enum MaskKeys {
    private static let state = ThreadSpecificVariable<Box>()

    private final class Box: @unchecked Sendable {  // one thread's own
        var value = UInt64.random(in: 1...UInt64.max)
    }

    static func next() -> UInt32 {
        let box: Box
        if let existing = state.currentValue {
            box = existing
        } else {
            box = Box()
            state.currentValue = box
        }
        box.value ^= box.value >> 12
        box.value ^= box.value << 25
        box.value ^= box.value >> 27
        return UInt32(truncatingIfNeeded: (box.value &* 2_685_821_657_736_338_717) >> 32)
    }
}


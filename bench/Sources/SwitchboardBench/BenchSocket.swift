import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// One user's WebSocket to a node, on one event loop. Everything it does happens on that loop: frames
/// are read and written there (no task hop per frame), so the harness spreads its load over the
/// loops of one group and its own overhead stays small.
///
/// Mutable state is touched only on `loop` (checked in debug builds), which is what makes it Sendable.
final class BenchSocket: @unchecked Sendable {
    /// What a socket tells its owner; called on the socket's loop.
    struct Events: Sendable {
        /// A text frame arrived (not a reply to a request of this socket's).
        var frame: @Sendable (BenchSocket, ByteBuffer) -> Void
        /// The connection closed (or failed); the code when a close frame came.
        var closed: @Sendable (BenchSocket, Int?) -> Void
    }

    typealias Reply = @Sendable (Result<ByteBuffer, BenchError>) -> Void

    let user: String
    let loop: any EventLoop
    private let events: Events
    private var channel: (any Channel)?
    private var pending: [String: Reply] = [:]
    private var nextID = 0
    private(set) var isOpen = false

    init(user: String, loop: any EventLoop, events: Events) {
        self.user = user
        self.loop = loop
        self.events = events
    }

    /// Connects to `host:port`, upgrades `path`, authenticates with an `auth` frame naming `resume`
    /// (conversation to the last seq this user was shown), and succeeds once the node's `welcome`
    /// arrived. The node then sends what came after those seqs, then the live entries.
    func connect(host: String, port: Int, path: String, token: String, resume: [String: Int64]) -> EventLoopFuture<Void> {
        let welcome = loop.makePromise(of: Void.self)
        var auth = #"{"type":"auth","id":"auth","payload":{"token":"\#(token)","resume":{"#
        auth += resume.map { #""\#($0.key)":\#($0.value)"# }.joined(separator: ",")
        auth += "}}}"
        let authFrame = auth
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                let request = UpgradeRequest(host: host, port: port, path: path)
                let upgrader = NIOWebSocketClientUpgrader(requestKey: key, maxFrameSize: 1 << 22, automaticErrorHandling: true) { [self] channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(FrameHandler(socket: self, welcome: welcome))
                        var buffer = channel.allocator.buffer(capacity: authFrame.utf8.count)
                        buffer.writeString(authFrame)
                        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer), promise: nil)
                    }
                }
                let configuration: NIOHTTPClientUpgradeConfiguration = (
                    upgraders: [upgrader],
                    completionHandler: { context in context.pipeline.removeHandler(request, promise: nil) }
                )
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers(withClientUpgrade: configuration)
                    try channel.pipeline.syncOperations.addHandler(request)
                }
            }
        bootstrap.connect(host: host, port: port).whenComplete { [self] result in
            switch result {
            case .success(let channel):
                self.channel = channel
                channel.closeFuture.whenComplete { _ in welcome.fail(BenchError("closed before welcome")) }
            case .failure(let error):
                welcome.fail(error)
            }
        }
        return welcome.futureResult
    }

    /// Sends a request frame `{"type":type,"id":…,"payload":payload}`; `reply` gets the `ack`'s or
    /// `error`'s bytes. `payload` is JSON text.
    func request(_ type: String, payload: String, reply: @escaping Reply) {
        loop.preconditionInEventLoop()
        guard let channel, isOpen else {
            reply(.failure(BenchError("closed")))
            return
        }
        nextID += 1
        let id = "r\(nextID)"
        pending[id] = reply
        var buffer = channel.allocator.buffer(capacity: payload.utf8.count + type.utf8.count + 40)
        buffer.writeString(#"{"type":""#)
        buffer.writeString(type)
        buffer.writeString(#"","id":""#)
        buffer.writeString(id)
        buffer.writeString(#"","payload":"#)
        buffer.writeString(payload)
        buffer.writeString("}")
        channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .text, maskKey: .random(), data: buffer), promise: nil)
    }

    /// Closes the socket (normal closure).
    func close() {
        loop.execute { [self] in
            guard let channel, isOpen else { return }
            var data = channel.allocator.buffer(capacity: 2)
            data.write(webSocketErrorCode: .normalClosure)
            channel.writeAndFlush(WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: data)).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }

    /// Drops the TCP connection without a close frame (a device that vanished).
    func drop() { loop.execute { [self] in channel?.close(promise: nil) } }

    // MARK: Called by the frame handler, on the loop.

    fileprivate func opened() { isOpen = true }

    fileprivate func received(_ buffer: ByteBuffer) {
        let scanner = FrameScanner(buffer)
        if let type = scanner.string("type"), type == "ack" || type == "error", let re = scanner.string("re"),
            let reply = pending.removeValue(forKey: String(re))
        {
            reply(.success(buffer))
            return
        }
        events.frame(self, buffer)
    }

    fileprivate func ended(code: Int?) {
        let wasOpen = isOpen
        isOpen = false
        let replies = pending.values
        pending.removeAll()
        for reply in replies { reply(.failure(BenchError("the connection closed"))) }
        if wasOpen { events.closed(self, code) }
    }
}

/// Sends the HTTP upgrade request once the TCP connection is up.
private final class UpgradeRequest: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    let host: String
    let port: Int
    let path: String

    init(host: String, port: Int, path: String) {
        self.host = host
        self.port = port
        self.path = path
    }

    func channelActive(context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: "\(host):\(port)")
        headers.add(name: "Content-Length", value: "0")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // A response that is not the 101 (the upgrade was refused): give up on this connection.
        if case .head(let head) = unwrapInboundIn(data), head.status != .switchingProtocols {
            context.close(promise: nil)
        }
    }
}

/// Reads WebSocket frames for one ``BenchSocket``: answers pings, joins fragments, waits for the
/// `welcome`, then hands every text frame on. Confined to its channel's loop, like the socket.
private final class FrameHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let socket: BenchSocket
    private let welcome: EventLoopPromise<Void>
    private var fragments: ByteBuffer?
    private var welcomed = false

    init(socket: BenchSocket, welcome: EventLoopPromise<Void>) {
        self.socket = socket
        self.welcome = welcome
    }

    func handlerAdded(context: ChannelHandlerContext) { socket.opened() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            if frame.fin { handle(frame.unmaskedData) } else { fragments = frame.unmaskedData }
        case .continuation:
            fragments?.writeImmutableBuffer(frame.unmaskedData)
            if frame.fin, let whole = fragments {
                fragments = nil
                handle(whole)
            }
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, maskKey: .random(), data: frame.unmaskedData)), promise: nil)
        case .connectionClose:
            var data = frame.unmaskedData
            let code = data.readWebSocketErrorCode().map { Int(UInt16(webSocketErrorCode: $0)) }
            socket.ended(code: code)
            context.close(promise: nil)
        default:
            break
        }
    }

    private func handle(_ buffer: ByteBuffer) {
        guard welcomed else {
            switch FrameScanner(buffer).string("type") {
            case "welcome":
                welcomed = true
                welcome.succeed(())
            case "ack":
                break  // the auth frame's; the welcome follows
            default:
                welcome.fail(BenchError("refused: \(String(buffer: buffer))"))
            }
            return
        }
        socket.received(buffer)
    }

    func channelInactive(context: ChannelHandlerContext) {
        socket.ended(code: nil)
        welcome.fail(BenchError("the connection closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

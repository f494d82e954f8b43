import Foundation
import NIOCore
import NIOPosix

/// One user's WebSocket to a node, on one event loop. Everything it does happens on that loop: frames
/// are read and written there (no task hop per frame), so the harness spreads its load over the
/// loops of one group and its own overhead stays small.
///
/// Mutable state is touched only on `loop` (checked in debug builds), which is what makes it Sendable.
final class BenchSocket: @unchecked Sendable {
    /// What a socket tells its owner; called on the socket's loop.
    struct Events: Sendable {
        /// A text frame arrived (not a reply to a request of this socket's).
        var frame: @Sendable (BenchSocket, FrameScanner) -> Void
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

    /// Connects to `host:port` (from `source`, a local address, when given), upgrades `path`,
    /// authenticates with an `auth` frame naming `resume` (conversation to the last seq this user was
    /// shown), and succeeds once the node's `welcome` arrived. The node then sends what came after
    /// those seqs, then the live entries.
    func connect(host: String, port: Int, source: SocketAddress?, path: String, token: String, resume: [String: Int64]) -> EventLoopFuture<Void> {
        let welcome = loop.makePromise(of: Void.self)
        var auth = #"{"type":"auth","id":"auth","payload":{"token":"\#(token)","resume":{"#
        auth += resume.map { #""\#($0.key)":\#($0.value)"# }.joined(separator: ",")
        auth += "}}}"
        let upgrade = WebSocketClient.Upgrade(host: host, port: port, path: path, firstFrame: auth)
        var bootstrap = ClientBootstrap(group: loop)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(WebSocketClient(socket: self, upgrade: upgrade, welcome: welcome))
                }
            }
        if let source { bootstrap = bootstrap.bind(to: source) }
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
        channel.writeAndFlush(WebSocketClient.frame(.text, payload: buffer, allocator: channel.allocator), promise: nil)
    }

    /// Closes the socket (normal closure).
    func close() {
        loop.execute { [self] in
            guard let channel, isOpen else { return }
            var data = channel.allocator.buffer(capacity: 2)
            data.writeInteger(UInt16(1000))
            channel.writeAndFlush(WebSocketClient.frame(.close, payload: data, allocator: channel.allocator)).whenComplete { _ in
                channel.close(promise: nil)
            }
        }
    }

    /// Drops the TCP connection without a close frame (a device that vanished).
    func drop() { loop.execute { [self] in channel?.close(promise: nil) } }

    // MARK: Called by its WebSocketClient, on the loop.

    func opened() { isOpen = true }

    func received(_ scanner: FrameScanner) {
        if scanner.string(.type, is: "ack") || scanner.string(.type, is: "error"), let re = scanner.string(.re),
            let reply = pending.removeValue(forKey: String(re))
        {
            reply(.success(scanner.buffer))
            return
        }
        events.frame(self, scanner)
    }

    func ended(code: Int?) {
        let wasOpen = isOpen
        isOpen = false
        let replies = pending.values
        pending.removeAll()
        for reply in replies { reply(.failure(BenchError("the connection closed"))) }
        if wasOpen { events.closed(self, code) }
    }
}


import BenchAccounting
import NIOCore
import NIOPosix

/// One simulated user as a mobile app behaves: a socket that comes back. When its socket closes (a
/// node killed, a drain's 1012, Redis or PostgreSQL trouble), it reconnects to the next node after a
/// short jittered delay, resumes from the last seq it was shown in each conversation, and sends again,
/// with their client ids, the messages the node never acknowledged (so nothing is stored twice). A
/// drain's `reconnect` advisory is followed: it moves after the advised delay.
///
/// Everything it does happens on `loop` (its sockets live there too), which makes it Sendable.
final class BenchUser: @unchecked Sendable {
    /// A message this user sent and the node has not acknowledged yet.
    struct Send: Sendable {
        var conversation: String
        var clientID: String
        var content: String
        var sentAt: UInt64
    }

    let name: String
    /// This user's one device, as the ledger counts it.
    let receiver: Ledger.Receiver
    let loop: any EventLoop
    private let nodes: [NodeTarget]
    /// The local address its connections come from (nil: the kernel picks).
    private let source: SocketAddress?
    private let token: String
    private let recorder: Recorder
    private let joined: Counter
    private var node: Int
    private var socket: BenchSocket?
    /// The last seq shown per conversation: the resume positions.
    private var positions: [String: Int64] = [:]
    /// Unacknowledged sends, in the order they were made.
    private var unacknowledged: [(clientID: String, send: Send)] = []
    private var stopped = false
    private var attempts = 0

    init(
        name: String, loop: any EventLoop, nodes: [NodeTarget], firstNode: Int, source: SocketAddress?, token: String, recorder: Recorder,
        joined: Counter
    ) {
        self.name = name
        self.receiver = Ledger.Receiver(user: name)
        self.loop = loop
        self.nodes = nodes
        self.source = source
        self.node = firstNode
        self.token = token
        self.recorder = recorder
        self.joined = joined
    }

    /// `count` users named `<prefix><run>-<index>` (a fresh run id, so no run meets another's
    /// conversations), spread over the nodes, the fleet's loops and its source addresses round-robin.
    static func make(_ count: Int, prefix: String, fleet: Fleet, recorder: Recorder, joined: Counter) throws -> [BenchUser] {
        let run = String((0..<6).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
        return try (0..<count).map { index in
            let name = "\(prefix)\(run)-\(index)"
            return BenchUser(
                name: name, loop: fleet.group.next(), nodes: fleet.nodes, firstNode: index,
                source: fleet.sources.isEmpty ? nil : fleet.sources[index % fleet.sources.count], token: try fleet.tokens.token(for: name),
                recorder: recorder, joined: joined)
        }
    }

    /// Connects `users` 256 at a time, each counted once its `welcome` arrived; `connected` is told
    /// the running count after each batch.
    static func connect(_ users: [BenchUser], connected: (Int) -> Void = { _ in }) async throws {
        for batch in stride(from: 0, to: users.count, by: 256) {
            let starting = users[batch..<min(batch + 256, users.count)].map { $0.start() }
            for future in starting { try await future.get() }
            connected(min(batch + 256, users.count))
        }
    }

    /// The first connection; fails when it cannot be made (the run cannot start).
    func start() -> EventLoopFuture<Void> {
        loop.flatSubmit { self.open().connected }
    }

    /// Sends a message now, or as soon as a socket is up again.
    func send(_ send: Send) {
        loop.preconditionInEventLoop()
        unacknowledged.append((send.clientID, send))
        if let socket, socket.isOpen { write(send, on: socket) }
    }

    /// A request that is not a message (setup): answered with the reply's bytes.
    func request(_ type: String, payload: String) -> EventLoopFuture<ByteBuffer> {
        let promise = loop.makePromise(of: ByteBuffer.self)
        loop.execute {
            guard let socket = self.socket else { return promise.fail(BenchError("\(self.name) is not connected")) }
            socket.request(type, payload: payload) { reply in promise.completeWith(reply.mapError { $0 as any Error }) }
        }
        return promise.futureResult
    }

    /// Drops the connection as a device losing its network does (no close frame); it comes back by
    /// itself, resuming.
    func churn() {
        loop.execute { self.socket?.drop() }
    }

    /// Closes the socket for good.
    func stop() {
        loop.execute {
            self.stopped = true
            self.socket?.close()
        }
    }

    // MARK: On the loop

    private func open() -> (socket: BenchSocket, connected: EventLoopFuture<Void>) {
        let target = nodes[node % nodes.count]
        let socket = BenchSocket(
            user: name, loop: loop,
            events: BenchSocket.Events(
                frame: { [self] socket, frame in self.frame(frame, from: socket) },
                closed: { [self] socket, _ in self.closed(socket) }))
        self.socket = socket
        let connected = socket.connect(host: target.host, port: target.port, source: source, path: "/v1/ws", token: token, resume: positions).map {
            guard socket === self.socket else { return }
            self.attempts = 0
            for (_, send) in self.unacknowledged { self.write(send, on: socket) }
        }
        return (socket, connected)
    }

    private func write(_ send: Send, on socket: BenchSocket) {
        let payload = #"{"conversation":"\#(send.conversation)","client_id":"\#(send.clientID)","content":"\#(send.content)"}"#
        socket.request("message.send", payload: payload) { [self] reply in
            guard case .success(let frame) = reply else { return }  // the socket closed: sent again after the reconnect
            let scanner = FrameScanner(frame)
            if scanner.string(.type, is: "ack"), let seq = scanner.integer(.seq) {
                guard let index = unacknowledged.firstIndex(where: { $0.clientID == send.clientID }) else { return }  // a repeat's ack
                unacknowledged.remove(at: index)
                recorder.acknowledged(seq, in: send.conversation, sentAt: send.sentAt)
                return
            }
            let code = scanner.string(.code).map(String.init) ?? "unreadable"
            recorder.failed(code)
            if code == "unavailable" || code == "rate_limited" {
                // Retryable: the same client id again, a little later (the node may have stored it).
                loop.scheduleTask(in: .milliseconds(200)) { [self] in
                    if let socket = self.socket, socket.isOpen, unacknowledged.contains(where: { $0.clientID == send.clientID }) {
                        write(send, on: socket)
                    }
                }
            } else {
                unacknowledged.removeAll { $0.clientID == send.clientID }
                recorder.abandoned()
            }
        }
    }

    private func frame(_ scanner: FrameScanner, from socket: BenchSocket) {
        guard socket === self.socket else { return }
        if scanner.string(.type, is: "message.new") {
            guard let conversation = scanner.string(.conversation).map(String.init), let seq = scanner.integer(.seq) else { return }
            if seq > positions[conversation, default: 0] { positions[conversation] = seq }
            recorder.received(seq, in: conversation, by: receiver, sentAt: scanner.leadingNumber(inString: .content))
        } else if scanner.string(.type, is: "conversation.joined") {
            joined.increment()
        } else if scanner.string(.type, is: "reconnect") {
            // The node is draining: move after the advised delay, before its 1012.
            let delay = scanner.integer(.delayMS) ?? 0
            loop.scheduleTask(in: .milliseconds(delay)) { [self] in
                if socket === self.socket { socket.close() }
            }
        } else if scanner.string(.type, is: "typing") {
            guard let conversation = scanner.string(.conversation), let typist = scanner.string(.user) else { return }
            recorder.typing(in: String(conversation), by: String(typist), seenBy: receiver)
        }
    }

    private func closed(_ socket: BenchSocket) {
        guard socket === self.socket, !stopped else { return }
        self.socket = nil
        reconnect()
    }

    /// Tries the next node after a jittered delay that grows with failed attempts (at most 2 s).
    private func reconnect() {
        attempts += 1
        node += 1
        let ceiling = min(2_000, 100 * (1 << min(attempts, 5)))
        loop.scheduleTask(in: .milliseconds(Int64.random(in: 50...Int64(ceiling)))) { [self] in
            guard !stopped else { return }
            let (socket, connected) = open()
            connected.whenComplete { [self] result in
                switch result {
                case .success: recorder.reconnected()
                case .failure:
                    // Whichever notices first (this, or the socket's close) tries again, once.
                    if self.socket === socket {
                        self.socket = nil
                        reconnect()
                    }
                }
            }
        }
    }
}

import ArgumentParser
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

/// `switchboard-bench reference-node`: the least a server must do to speak the frames the harness
/// uses (auth, welcome, group creation, sends, typing), with nothing behind it: no store, no token
/// check, no limits, one event loop, every frame encoded once and written to each recipient.
///
/// It exists to measure the harness, not Switchboard: `scripts/bench.sh calibrate` runs a fanout
/// against it at 100,000 deliveries a second and reads the harness's own CPU, so the harness's limit
/// is known apart from any node's. It is never a stand-in for the node in a test.
struct ReferenceNodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reference-node",
        abstract: "A storeless server of the harness's frames, to measure the harness alone (bench/README.md).")

    @Option(help: "The loopback port to listen on (0 picks one).") var port: Int = 0
    @Option(help: "A file to write the port to once listening.") var portFile: String?

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let state = ReferenceState(loop: loop)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let upgrader = NIOWebSocketServerUpgrader(
                    maxFrameSize: 1 << 20, automaticErrorHandling: true,
                    shouldUpgrade: { channel, _ in channel.eventLoop.makeSucceededFuture(HTTPHeaders()) },
                    upgradePipelineHandler: { channel, _ in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(ReferenceConnection(state: state))
                        }
                    })
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                        withServerUpgrade: (upgraders: [upgrader], completionHandler: { _ in }))
                }
            }
            .bind(host: "127.0.0.1", port: port).get()
        let bound = channel.localAddress?.port ?? port
        if let portFile { try "\(bound)\n".write(toFile: portFile, atomically: true, encoding: .utf8) }
        say("reference-node listening on 127.0.0.1:\(bound)")
        try await channel.closeFuture.get()
    }
}

/// The reference node's whole state, confined to its one event loop (so no lock is needed).
private final class ReferenceState: @unchecked Sendable {
    let loop: any EventLoop
    /// Open connections by user.
    var connections: [String: [ReferenceConnection]] = [:]
    /// Members and last seq of each conversation.
    var conversations: [String: (members: [String], lastSeq: Int64)] = [:]
    var nextConversation = 0

    init(loop: any EventLoop) { self.loop = loop }

    /// Writes `frame` to every connection of `users` (the same bytes to each), flushed.
    func deliver(_ frame: ByteBuffer, to users: [String], except: String? = nil) {
        for user in users where user != except {
            for connection in connections[user] ?? [] { connection.write(frame) }
        }
    }
}

/// One WebSocket of the reference node.
private final class ReferenceConnection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let state: ReferenceState
    private var context: ChannelHandlerContext?
    private var user: String?

    init(state: ReferenceState) { self.state = state }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) {
        if let user { state.connections[user]?.removeAll { $0 === self } }
        self.context = nil
    }

    func write(_ buffer: ByteBuffer) {
        context?.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: buffer)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text: handle(frame.unmaskedData)
        case .ping: context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        case .connectionClose: context.close(promise: nil)
        default: break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }

    private func handle(_ buffer: ByteBuffer) {
        let scanner = FrameScanner(buffer)
        let id = scanner.string(.id).map(String.init) ?? ""
        switch scanner.string(.type) {
        case "auth":
            guard let token = scanner.string(.token), let name = Self.subject(of: token) else { return reply(id, error: "unauthorized") }
            user = name
            state.connections[name, default: []].append(self)
            reply(id, payload: "{}")
            write(text(#"{"type":"welcome","payload":{"user":"\#(name)","node":"reference"}}"#))
        case "conversation.create_group":
            guard let user else { return reply(id, error: "unauthorized") }
            state.nextConversation += 1
            let conversation = "c_\(state.nextConversation)"
            let members = [user] + scanner.strings(.participants).map(String.init)
            state.conversations[conversation] = (members, 0)
            reply(id, payload: #"{"conversation":{"id":"\#(conversation)","kind":"group"},"created":true}"#)
            state.deliver(text(#"{"type":"conversation.joined","payload":{"conversation":{"id":"\#(conversation)","kind":"group"}}}"#), to: members)
        case "message.send":
            guard let user, let conversation = scanner.string(.conversation).map(String.init), var entry = state.conversations[conversation],
                entry.members.contains(user)
            else { return reply(id, error: "not_found") }
            entry.lastSeq += 1
            state.conversations[conversation] = entry
            let content = scanner.string(.content) ?? ""
            let clientID = scanner.string(.clientID) ?? ""
            let message =
                #"{"conversation":"\#(conversation)","seq":\#(entry.lastSeq),"sender":"\#(user)","client_id":"\#(clientID)","kind":"text","content":"\#(content)"}"#
            reply(id, payload: #"{"message":\#(message),"duplicate":false}"#)
            state.deliver(text(#"{"type":"message.new","payload":{"message":\#(message)}}"#), to: entry.members)
        case "typing":
            guard let user, let conversation = scanner.string(.conversation).map(String.init), let entry = state.conversations[conversation] else {
                return reply(id, error: "not_found")
            }
            reply(id, payload: "{}")
            state.deliver(
                text(#"{"type":"typing","payload":{"conversation":"\#(conversation)","user":"\#(user)","expires_in_ms":5000}}"#), to: entry.members,
                except: user)
        default:
            reply(id, error: "unsupported")
        }
    }

    private func reply(_ id: String, payload: String) { write(text(#"{"type":"ack","re":"\#(id)","payload":\#(payload)}"#)) }

    private func reply(_ id: String, error code: String) {
        write(text(#"{"type":"error","re":"\#(id)","payload":{"code":"\#(code)","message":"the reference node does not do this"}}"#))
    }

    private func text(_ string: String) -> ByteBuffer { ByteBuffer(string: string) }

    /// The `sub` claim of a JWT, unverified (the reference node checks nothing).
    static func subject(of token: Substring) -> String? {
        let parts = token.split(separator: ".")
        guard parts.count == 3 else { return nil }
        var base64 = parts[1].replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let claims = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return claims["sub"] as? String
    }
}

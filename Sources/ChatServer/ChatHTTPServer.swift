import ChatCore
import ChatNode
import ChatWire
import ClientAssets
import EventLoops
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket

/// Where and how the HTTP/WebSocket edge listens.
public struct ServerSettings: Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// The WebSocket endpoint's path.
    public var webSocketPath: String = "/v1/ws"
    /// How often the server pings an idle WebSocket; a client that does not answer is closed.
    public var pingInterval: Duration = .seconds(30)
    /// How long a socket the node asked to close (drain, auth failure, token expiry) may stay open,
    /// waiting for its close frame to be written and answered, before it is dropped.
    public var closeTimeout: Duration = .seconds(5)

    public init() {}
}

/// The HTTP and WebSocket edge of a node: REST routes, the WebSocket upgrade, health. Errors become
/// JSON bodies here, once, through ``HTTPStatusTable``.
public enum ChatHTTPServer {
    public typealias App = Application<RouterResponder<BasicRequestContext>>

    /// Every HTTP route the node serves, as `METHOD /path` with `{name}` parameters (the WebSocket
    /// upgrade path aside): what docs/openapi.json must describe, no more, no less.
    public static func routes(
        service: ChatService, driver: ConnectionDriver, authenticator: any Authenticator, readiness: Readiness, console: Console
    ) -> [String] {
        let router = router(service: service, driver: driver, authenticator: authenticator, readiness: readiness, console: console, exposition: { [] })
        return router.routes.map { route in
            let path = route.path.description.split(separator: "/").map { $0.hasPrefix(":") ? "{\($0.dropFirst())}" : String($0) }
            return "\(route.method) /" + path.joined(separator: "/")
        }
    }

    /// The REST routes, health and `/metrics`.
    static func router(
        service: ChatService, driver: ConnectionDriver, authenticator: any Authenticator, readiness: Readiness, console: Console,
        exposition: @escaping @Sendable () -> [UInt8]
    ) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        RESTRoutes(service: service, authenticator: authenticator, limits: service.settings.limits, metrics: driver.metrics).register(on: router)
        ConsoleRoutes(
            console: console, responder: JSONResponder(authenticator: authenticator, limits: service.settings.limits, metrics: driver.metrics),
            clock: service.clock
        ).register(on: router)
        router.get("/health/live") { _, _ in Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"status":"live"}"#))) }
        router.get("/health/ready") { _, _ in
            readiness.isReady
                ? Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ready"}"#)))
                : Response(status: .serviceUnavailable, body: .init(byteBuffer: ByteBuffer(string: #"{"status":"not_ready"}"#)))
        }
        // Prometheus text exposition; no token, like the health routes (keep it off the public listener).
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: exposition())))
        }
        // The JavaScript client, for pages on any origin (a public file: no token, CORS open).
        for asset in ClientAssets.all {
            router.get(RouterPath(asset.path)) { _, _ in
                var headers = HTTPFields()
                headers[.contentType] = asset.contentType
                headers[.cacheControl] = "public, max-age=300"
                headers[.accessControlAllowOrigin] = "*"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: asset.bytes)))
            }
        }
        // Last: it sees only what no route matched (405 with Allow, or a JSON 404).
        router.add(middleware: RouteFallback<BasicRequestContext>(routes: router.routes))
        return router
    }

    /// Builds the Hummingbird application. `onRunning` receives the bound port (useful with port 0).
    public static func application(
        service: ChatService, driver: ConnectionDriver, authenticator: any Authenticator, readiness: Readiness, console: Console,
        server: ServerSettings, exposition: @escaping @Sendable () -> [UInt8], logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void
    ) -> App {
        let limits = service.settings.limits
        let metrics = driver.metrics
        let router = self.router(
            service: service, driver: driver, authenticator: authenticator, readiness: readiness, console: console, exposition: exposition)
        let webSocketPath = server.webSocketPath
        let outboxCapacity = limits.outboundQueueFrames
        let maxFrame = limits.maxFrameBytes
        let evictionGrace = limits.slowConsumerCloseGrace
        let closeTimeout = server.closeTimeout
        let pingInterval = server.pingInterval
        return Application(
            router: router,
            server: .http1WebSocketUpgrade(
                configuration: .init(
                    ws: WebSocketServerConfiguration(
                        // Pings are the node's own (``KeepAlive``): no task per connection for them.
                        maxFrameSize: limits.maxTransportFrameBytes, autoPing: .disabled,
                        closeTimeout: closeTimeout))
            ) { request, channel, _ in
                let (path, query) = split(request.path ?? "")
                guard path == webSocketPath else { return .dontUpgrade }
                let token = bearer(request.headerFields[.authorization]) ?? queryValue(query, "token")
                return .upgrade([:]) { inbound, _, _ in
                    let handshake = NIOLoopBoundBox.makeEmptyBox(valueType: CloseHandshake.self, eventLoop: channel.eventLoop)
                    // Runs before the sink's first drain: both are tasks on the channel's loop, in order.
                    channel.eventLoop.execute {
                        let pipeline = channel.pipeline.syncOperations
                        try? pipeline.addHandler(KeepAlive(interval: pingInterval), position: .first)
                        if let decoder = try? pipeline.handler(type: ByteToMessageHandler<WebSocketFrameDecoder>.self) {
                            let handler = CloseHandshake()
                            if (try? pipeline.addHandler(handler, position: .after(decoder))) != nil { handshake.value = handler }
                        }
                    }
                    metrics.socketOpened()
                    defer { metrics.socketClosed() }
                    let outbox = Outbox(
                        capacity: outboxCapacity, sink: SocketSink(channel: channel, handshake: handshake),
                        onOverflow: { evict(channel, grace: evictionGrace) }, onClose: { drop(channel, after: closeTimeout) })
                    await EventLoopExecutor.prefer(channel.eventLoop) {
                        await driver.run(inbound: MessageAssembler(frames: inbound, maxBytes: maxFrame), token: token, outbox: outbox)
                    }
                }
            },
            configuration: .init(address: .hostname(server.host, port: server.port), serverName: "switchboard"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? server.port) },
            logger: logger
        )
    }

    /// Closes a slow consumer's socket. The 4002 close frame goes straight into the channel, behind
    /// the frames already handed to it, so it does not wait for the (possibly stuck) writer; the socket
    /// closes as soon as that frame is on the wire, or after `grace` if the client never drains it.
    /// Closing the channel ends the connection's inbound side, and with it the session.
    static func evict(_ channel: any NIOCore.Channel, grace: Duration) {
        let frame = CloseHandshake.frame(code: .slowConsumer, reason: "slow consumer", allocator: channel.allocator)
        drop(channel, after: grace)
        channel.eventLoop.execute {
            channel.writeAndFlush(frame).whenComplete { _ in channel.close(promise: nil) }
        }
    }

    /// Closes the socket `timeout` after the node asked to close it, unless it closed by then: a client
    /// that stopped reading (the close frame cannot be written) or never answers the close frame
    /// cannot keep the connection, or a drain, alive. Closing the channel ends its inbound side, and
    /// with it the session.
    static func drop(_ channel: any NIOCore.Channel, after timeout: Duration) {
        let loop = channel.eventLoop
        loop.execute {
            let deadline = loop.scheduleTask(in: TimeAmount(timeout)) { channel.close(promise: nil) }
            channel.closeFuture.whenComplete { _ in deadline.cancel() }
        }
    }

    static func split(_ path: String) -> (String, Substring) {
        guard let mark = path.firstIndex(of: "?") else { return (path, "") }
        return (String(path[..<mark]), path[path.index(after: mark)...])
    }

    static func queryValue(_ query: Substring, _ name: String) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0] == name { return String(parts[1]).removingPercentEncoding ?? String(parts[1]) }
        }
        return nil
    }

    static func bearer(_ header: String?) -> String? {
        guard let header, header.lowercased().hasPrefix("bearer ") else { return nil }
        let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
        return token.isEmpty ? nil : token
    }
}

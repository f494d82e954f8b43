import ChatCore
import ChatWire
import Logging
import NIOCore
import Synchronization

/// One complete message read from a client socket, as the transport hands it over.
public enum InboundMessage: Sendable {
    /// A text message within the frame limit.
    case text(ByteBuffer)
    /// A message larger than `limits.maxFrameBytes`; its bytes were discarded as they arrived.
    case tooLarge(Int)
    /// A binary message: the protocol is JSON text only.
    case binary
}

/// Runs one client connection from first byte to close, whatever the transport. The WebSocket edge
/// feeds it messages and drains the ``Outbox`` to the socket.
///
/// Sequence: authenticate (a token from the upgrade request, or an `auth` frame within the deadline),
/// register with the hub, send `welcome`, then answer each request: exactly one `ack` or `error` for
/// each request that carries an id. Sends are pipelined (up to `limits.sends.inflight` in flight,
/// stored in the order sent, their replies in the order their commits end); any other request but a
/// `ping` (answered at once) first waits for the sends in flight, then runs alone. Bad frames get a
/// `validation` error and the connection stays usable; a bad token closes with
/// ``CloseCode/unauthorized``.
public struct ConnectionDriver: Sendable {
    public let service: ChatService
    public let hub: Hub
    public let authenticator: any Authenticator
    public let presence: PresenceTracker
    public let metrics: NodeMetrics
    /// Schedules the `redeliver` check of each user whose connection comes up or whose catch-up ends; nil when it is off.
    public let redelivery: Redelivery?
    /// The connection's timers (the auth deadline, the token's expiry): timers, not tasks that sleep,
    /// because a connection lives long and every task it keeps costs memory for its whole life.
    let schedule: Schedule
    let logger: Logger

    public init(
        service: ChatService, hub: Hub, presence: PresenceTracker, authenticator: any Authenticator, metrics: NodeMetrics,
        redelivery: Redelivery? = nil, schedule: @escaping Schedule, logger: Logger
    ) {
        self.schedule = schedule
        self.metrics = metrics
        self.redelivery = redelivery
        self.service = service
        self.hub = hub
        self.presence = presence
        self.authenticator = authenticator
        self.logger = logger
    }

    private var settings: NodeSettings { service.settings }

    /// Runs the connection until `inbound` ends or the connection is closed.
    /// - Parameters:
    ///   - token: the token the upgrade request carried (header or query), if any.
    public func run<Inbound: AsyncSequence & Sendable>(inbound: Inbound, token: String?, outbox: Outbox) async
    where Inbound.Element == InboundMessage {
        let authenticated = Flag()
        // The auth deadline: a client that has sent no token by then is closed (one that did is
        // registered however long that takes, or refused).
        let deadline = settings.limits.authDeadline
        let cancelDeadline = schedule(deadline) { [self] in
            if !authenticated.isSet {
                sendError(.unauthorized("no auth frame within \(deadline)"), re: nil, to: outbox)
                outbox.close(.authTimeout, reason: "auth timeout")
            }
        }
        var cancelExpiry: (@Sendable () -> Void)?
        defer {
            cancelDeadline()
            cancelExpiry?()
        }
        let sends = SendPipeline(limit: settings.limits.sendsInFlight)
        // A discarding group: the sends the connection runs as children end all its life long, and
        // nothing of them may stay behind until it closes.
        let registered = await withDiscardingTaskGroup(returning: Session?.self) { group in
            var session: Session?
            if let token {
                // The deadline is for sending a token: registering it may take longer on a busy node.
                authenticated.set()
                session = await authenticate(token: token, re: nil, resume: [:], outbox: outbox)
                guard let current = session else { return nil }
                cancelExpiry = started(current, group: &group)
            }
            do {
                for try await message in inbound {
                    let frame: InboundFrame
                    switch decode(message) {
                    case .failure(let failure):
                        metrics.frameIn("invalid")
                        sendError(failure.error, re: failure.re, to: outbox)
                        continue
                    case .success(let decoded):
                        frame = decoded
                        metrics.frameIn(decoded.typeName)
                    }
                    switch frame {
                    case .ping(let id):
                        sendAck(FrameCodec.ack(re: id, EmptyReply()), to: outbox)
                    case .auth(let id, let token, let resume):
                        if session != nil {
                            sendError(.conflict("already authenticated"), re: id, to: outbox)
                            continue
                        }
                        authenticated.set()
                        session = await authenticate(token: token, re: id, resume: resume, outbox: outbox)
                        guard let current = session else { break }
                        cancelExpiry = started(current, group: &group)
                    case .command(let id, let command):
                        guard let current = session else {
                            sendError(.unauthorized("send an auth frame first"), re: id, to: outbox)
                            continue
                        }
                        if case .send = command {
                            // Pipelined: the next frame is read once this send has its place in the
                            // store's line, so sends are stored in the order sent while their commits overlap.
                            await sends.acquire()
                            let placed = OneShot()
                            group.addTask { [self] in
                                await answer(command, re: id, as: current, to: outbox, placed: { placed.fire() })
                                placed.fire()  // a send refused before it had its place (the store's contract)
                                sends.release()
                            }
                            await placed.wait()
                        } else {
                            // Anything else sees every earlier send done, as if requests ran one at a time.
                            await sends.drained()
                            await answer(command, re: id, as: current, to: outbox)
                        }
                    }
                    if case .auth = frame, session == nil { break }
                }
            } catch {
                logger.debug("connection read ended", metadata: ["error": "\(error)"])
            }
            // Sends in flight end as they would have in a connection that ran one request at a time:
            // stored and published, whether or not their replies still reach the client.
            await sends.drained()
            outbox.finish()
            group.cancelAll()
            return session
        }
        // After the children (the group waited for them): presence must not see the disconnect before the connect.
        if let registered {
            let conversations = hub.conversations(of: registered.principal.user)
            hub.unregister(registered)
            await presence.disconnected(registered, conversations: conversations)
        }
    }

    /// Executes one request and sends its one reply (an ack, or an error naming `re`).
    private func answer(
        _ command: Command, re id: RequestID?, as session: Session, to outbox: Outbox, placed: @escaping @Sendable () -> Void = {}
    ) async {
        do {
            let reply = try await service.execute(command, as: session.principal, placed: placed)
            sendAck(reply.ackFrame(re: id), to: outbox)
        } catch {
            sendError(ChatError.from(error), re: id, to: outbox)
        }
    }

    /// What runs beside an authenticated connection as it comes up: its catch-up (until level),
    /// presence, its user's redelivery check; and the token's expiry, a timer whose cancel it returns.
    private func started(_ session: Session, group: inout DiscardingTaskGroup) -> (@Sendable () -> Void)? {
        group.addTask { [presence] in await presence.connected(session) }
        group.addTask { [hub] in await hub.catchUp(session) }
        if let redelivery {
            let user = session.principal.user
            group.addTask { await redelivery.schedule(for: user) }
        }
        guard let expiry = session.principal.expiresAt else { return nil }
        let outbox = session.outbox
        return schedule(.milliseconds(max(0, expiry.milliseconds - service.clock.now().milliseconds))) { [self] in
            sendError(.unauthorized("token expired"), re: nil, to: outbox)
            outbox.close(.unauthorized, reason: "token expired")
        }
    }

    private func decode(_ message: InboundMessage) -> Result<InboundFrame, FrameError> {
        switch message {
        case .text(let buffer):
            return FrameCodec.decode(buffer.readableBytesView)
        case .tooLarge(let size):
            return .failure(FrameError(re: nil, error: .validation("frame of \(size) bytes exceeds the limit of \(settings.limits.maxFrameBytes)")))
        case .binary:
            return .failure(FrameError(re: nil, error: .validation("binary frames are not supported; send JSON text")))
        }
    }

    /// Verifies the token and registers a session; on failure writes the error and asks to close.
    private func authenticate(token: String, re: RequestID?, resume: [ConversationID: Seq], outbox: Outbox) async -> Session? {
        let principal: Principal
        do {
            principal = try await authenticator.authenticate(token)
        } catch {
            sendError(ChatError.from(error), re: re, to: outbox)
            outbox.close(.unauthorized, reason: "unauthorized")
            return nil
        }
        // The user's redelivery check is scheduled when the connection comes up and again when a
        // catch-up that sent entries ends (after a long resume, the check counts from its end).
        let user = principal.user
        let session = Session(
            id: ConnectionID(RandomIDGenerator.token(length: 16)), principal: principal, outbox: outbox, connectedAt: service.clock.now(),
            caughtUp: { [redelivery] in await redelivery?.schedule(for: user) })
        do {
            try await hub.register(session, resume: resume)
        } catch {
            let chat = ChatError.from(error)
            sendError(chat, re: re, to: outbox)
            if chat.code == .rateLimited {
                outbox.close(.tooManyConnections, reason: "too many connections")
            } else {
                outbox.close(.serviceRestart, reason: "node unavailable")
            }
            return nil
        }
        if let re { sendAck(FrameCodec.ack(re: re, EmptyReply()), to: outbox) }
        metrics.frameOut("welcome")
        outbox.send(
            bytes: FrameCodec.event(
                .welcome,
                WelcomeBody(
                    user: principal.user.rawValue, node: settings.nodeID.rawValue, connection: session.id.rawValue,
                    maxFrameBytes: settings.limits.maxFrameBytes, maxContentBytes: settings.limits.maxContentBytes)))
        return session
    }
}

/// A one-way boolean shared between a connection's tasks.
final class Flag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}

extension ConnectionDriver {
    private func sendError(_ error: ChatError, re: RequestID?, to outbox: Outbox) {
        metrics.error(error.code)
        metrics.frameOut("error")
        outbox.send(bytes: FrameCodec.error(re: re, error))
    }

    private func sendAck(_ frame: [UInt8], to outbox: Outbox) {
        metrics.frameOut("ack")
        outbox.send(bytes: frame)
    }
}

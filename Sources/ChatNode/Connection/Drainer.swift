import ChatCore
import ChatWire
import ServiceLifecycle

/// Empties the node on graceful shutdown, before the server stops: tells every client to reconnect
/// (each after its own random delay, so they do not all land on the other nodes at once), lets them
/// go for `grace`, then closes what is left with 1012 and waits (at most `closeTimeout`, after which
/// the transport drops them anyway) until they are gone: the server's own shutdown, which follows,
/// closes what is still open with 1000, and must not overtake the 1012 close frames.
///
/// Guarantees: it acts only once graceful shutdown starts (readiness is already false: the readiness
/// gate is told first); a request already being executed finishes (its connection's loop reads no
/// more after the close), and what was acknowledged is stored.
public struct Drainer: Service {
    let hub: Hub
    let grace: Duration
    let maxJitter: Duration
    let closeTimeout: Duration

    public init(hub: Hub, grace: Duration, maxJitter: Duration, closeTimeout: Duration) {
        self.hub = hub
        self.grace = grace
        self.maxJitter = maxJitter
        self.closeTimeout = closeTimeout
    }

    public func run() async throws {
        try? await gracefulShutdown()
        let jitter = max(1, maxJitter.wholeMilliseconds)
        for session in hub.allSessions {
            session.outbox.send(
                bytes: FrameCodec.event(.reconnect, ReconnectEvent(delayMs: Int64.random(in: 0...jitter), reason: "the node is restarting")))
        }
        // The grace ends early once every client has gone.
        await untilEveryClientLeft(within: grace)
        for session in hub.allSessions { session.outbox.close(.serviceRestart, reason: "node restarting") }
        await untilEveryClientLeft(within: closeTimeout)
    }

    private func untilEveryClientLeft(within limit: Duration) async {
        let deadline = ContinuousClock.now.advanced(by: limit)
        while hub.sessionCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }
}

import ChatCore
import ChatWire
import ServiceLifecycle

/// Empties the node on graceful shutdown, before the server stops: tells every client to reconnect
/// (each after its own random delay, so they do not all land on the other nodes at once), lets them
/// go for `grace`, then closes what is left with 1012.
///
/// Guarantees: it acts only once graceful shutdown starts (readiness is already false: the readiness
/// gate is told first); a request already being executed finishes (its connection's loop reads no
/// more after the close), and what was acknowledged is stored.
public struct Drainer: Service {
    let hub: Hub
    let grace: Duration
    let maxJitter: Duration

    public init(hub: Hub, grace: Duration, maxJitter: Duration) {
        self.hub = hub
        self.grace = grace
        self.maxJitter = maxJitter
    }

    public func run() async throws {
        try? await gracefulShutdown()
        let jitter = max(1, maxJitter.wholeMilliseconds)
        for session in hub.allSessions {
            session.outbox.send(
                bytes: FrameCodec.event(.reconnect, ReconnectEvent(delayMs: Int64.random(in: 0...jitter), reason: "the node is restarting")))
        }
        // The grace ends early once every client has gone.
        let deadline = ContinuousClock.now.advanced(by: grace)
        while hub.sessionCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for session in hub.allSessions { session.outbox.close(.serviceRestart, reason: "node restarting") }
    }
}

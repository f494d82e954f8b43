import ChatCore
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps the Presence port in step with this node's live connections, and tells a user's contacts
/// (everyone who shares a conversation with them) when the user goes online or offline: one event
/// naming the user's conversations on the presence channel, which each node hands to its own members
/// of them (``EventPublisher``), so a transition reads nothing from the store (the conversations are
/// the hub's, read when the user connected) and costs one `PUBLISH` however many contacts.
///
/// Guarantees: a connection is an entry from `connected` to `disconnected`; while the node runs, it
/// refreshes its entries every quarter of `presenceTTL`, gives them three quarters of it to live (two
/// missed beats are survived), and sweeps expired entries (a dead node's connections) at every beat,
/// so no user stays online longer than one `presenceTTL` after their last connection vanished:
/// three quarters until the entry expires, at most one quarter until a sweep reports it. Failures of the port are logged and retried on the next beat: presence is
/// advisory and never fails a connection.
public final class PresenceTracker: Service, Sendable {
    private let presence: any Presence
    private let store: any ChatStore
    private let publisher: EventPublisher
    private let hub: Hub
    private let settings: NodeSettings
    private let desk: SupportDesk?
    private let logger: Logger
    /// Set when the presence backend may have lost this node's entries (a Redis restart).
    private let restoreNeeded = Atomic<Bool>(false)

    /// - Parameter desk: told when a user who may be a support agent goes offline.
    public init(
        presence: any Presence, store: any ChatStore, publisher: EventPublisher, hub: Hub, settings: NodeSettings, desk: SupportDesk?,
        logger: Logger
    ) {
        self.desk = desk
        self.presence = presence
        self.store = store
        self.publisher = publisher
        self.hub = hub
        self.settings = settings
        self.logger = logger
    }

    /// How long an entry lives without a heartbeat.
    private var entryLifetime: Duration { settings.presenceTTL * 3 / 4 }

    /// Heartbeats and sweeps until graceful shutdown.
    public func run() async throws {
        let interval = settings.presenceTTL / 4
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                await self.beat()
            }
        }
    }

    /// The presence backend may have lost this node's entries (its link was interrupted): the next
    /// beat registers every live session again. Users who were never reported offline see no change.
    public func restore() { restoreNeeded.store(true, ordering: .releasing) }

    /// One heartbeat of this node's connections and one sweep of expired entries.
    public func beat() async {
        if restoreNeeded.exchange(false, ordering: .acquiringAndReleasing) {
            for session in hub.allSessions { await connected(session) }
        }
        do {
            try await presence.heartbeat(hub.allSessions.map { ($0.id, $0.principal.user) }, node: settings.nodeID, ttl: entryLifetime)
            // An expired entry's token is gone with its node: whether the user was an agent is unknown.
            let transitions = try await presence.expire()
            guard !transitions.isEmpty else { return }
            // Their connections were on a node that is gone: their conversations are the store's, read
            // together. Without them the contacts are not told, the support desk still is.
            var conversations: [UserID: [ConversationID: Membership]] = [:]
            do {
                conversations = try await store.memberships(of: Set(transitions.map(\.user)))
            } catch {
                logger.warning("presence: the expired users' conversations could not be read", metadata: ["error": "\(error)"])
            }
            for transition in transitions {
                await announce(transition, in: Set((conversations[transition.user] ?? [:]).keys), mayBeAgent: true)
            }
        } catch {
            logger.warning("presence heartbeat failed", metadata: ["error": "\(error)"])
        }
    }

    /// A session became live on this node.
    public func connected(_ session: Session) async {
        do {
            if let transition = try await presence.connect(
                session.id, user: session.principal.user, node: settings.nodeID, ttl: entryLifetime)
            {
                await announce(transition, in: hub.conversations(of: session.principal.user), mayBeAgent: false)
            }
        } catch {
            logger.warning("presence connect failed", metadata: ["error": "\(error)"])
        }
    }

    /// A session on this node ended; `conversations` are its user's (read from the hub before the
    /// session was unregistered).
    public func disconnected(_ session: Session, conversations: Set<ConversationID>) async {
        do {
            if let transition = try await presence.disconnect(session.id, user: session.principal.user) {
                await announce(transition, in: conversations, mayBeAgent: !SupportRules.agentWorkspaces(of: session.principal).isEmpty)
            }
        } catch {
            logger.warning("presence disconnect failed", metadata: ["error": "\(error)"])
        }
    }

    private func announce(_ transition: PresenceTransition, in conversations: Set<ConversationID>, mayBeAgent: Bool) async {
        if mayBeAgent, case .offline(let user, let lastSeen) = transition { await desk?.agentWentOffline(user, at: lastSeen) }
        do {
            try await publisher.presence(transition, in: conversations)
        } catch {
            logger.warning("presence event failed", metadata: ["user": "\(transition.user)", "error": "\(error)"])
        }
    }
}

import ChatCore
import ChatWire
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// This node's live connections and what they listen to. Two planes:
///
/// - The data plane, ``handle(_:)``, is the broker's envelope handler: it looks up local recipients
///   under a mutex and enqueues the envelope's bytes (encoded once) to their bounded outboxes. It never
///   waits and never reads the store.
/// - The control plane, ``run()``, executes connects, disconnects, joins, leaves and gap repairs one at
///   a time from a bounded queue, so subscription changes never race. The node subscribes to a
///   conversation's channel once, when its first local member connects or joins, and unsubscribes when
///   the last leaves; likewise one user channel per locally connected user, and one desk channel per
///   workspace with a locally connected support agent.
///
/// Resume: a session that connects behind the live stream (its resume position, or the user's
/// delivered watermark, lies below what the node relays) gets a catch-up cursor per such conversation:
/// the seq it needs next. ``catchUp(_:)`` reads from the store after the cursor, page by page as the
/// outbox makes room; live entries that reach the session meanwhile are delivered only if they are the
/// one the cursor expects (the store has the others). Once the cursor meets the node's relay, the
/// session switches to the shared live path under the same lock, so it receives every entry after its
/// position exactly once and in order, however far behind it was, holding nothing in memory for it.
///
/// Guarantees: each message event reaches every local session of every local member at most once per
/// node and in seq order per conversation (``ConversationRelay``); a missing seq is read from the
/// store after `gapRepairDelay`.
public final class Hub: Service, Sendable {
    private struct State {
        var sessions: [UserID: [ConnectionID: Session]] = [:]
        var memberships: [UserID: Set<ConversationID>] = [:]
        var members: [ConversationID: Set<UserID>] = [:]
        var relays: [ConversationID: ConversationRelay] = [:]
        /// Sessions still catching up: per conversation, the seq each needs next (see the type's documentation).
        var catchUps: [ConnectionID: [ConversationID: Seq]] = [:]
        /// The sessions of each workspace's support agents (their tokens' `agent:` roles).
        var desks: [WorkspaceID: [ConnectionID: Session]] = [:]

        func sessions(of users: Set<UserID>) -> [Session] {
            users.flatMap { sessions[$0].map { Array($0.values) } ?? [] }
        }
    }

    private enum Control: Sendable {
        case register(Session, resume: [ConversationID: Seq], CheckedContinuation<Void, any Error>)
        case unregister(Session)
        case joined(UserID, ConversationID, lastSeq: Seq)
        case left(UserID, ConversationID)
        case repair
        case resync
    }

    private let state = Mutex(State())
    private let broker: Mutex<(any Broker)?> = Mutex(nil)
    private let store: any ChatStore
    private let clock: any WallClock
    private let settings: NodeSettings
    private let metrics: NodeMetrics
    private let logger: Logger
    private let controlStream: AsyncStream<Control>
    private let control: AsyncStream<Control>.Continuation

    public init(store: any ChatStore, clock: any WallClock, settings: NodeSettings, metrics: NodeMetrics = .discarding(), logger: Logger) {
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.settings = settings
        self.logger = logger
        (controlStream, control) = AsyncStream.makeStream(
            of: Control.self, bufferingPolicy: .bufferingOldest(settings.controlQueueCapacity))
    }

    /// Connects the hub to its broker (made with ``handle(_:)`` as its handler). Call once, before `run`.
    public func attach(_ broker: any Broker) { self.broker.withLock { $0 = broker } }

    private var currentBroker: any Broker {
        get throws {
            guard let broker = broker.withLock({ $0 }) else { throw ChatError.internal("hub has no broker") }
            return broker
        }
    }

    // MARK: Control plane

    /// Processes control operations until graceful shutdown.
    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [control, settings] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: settings.gapRepairInterval) } catch { return }
                    control.yield(.repair)
                }
            }
            await withGracefulShutdownHandler {
                for await request in controlStream { await process(request) }
            } onGracefulShutdown: { [control] in
                control.finish()
            }
            group.cancelAll()
        }
    }

    /// Registers an authenticated session: once this returns, every event for the user's conversations
    /// reaches its outbox, and entries after `resume` (or after the user's delivered watermark, for
    /// conversations it does not name) are owed to it by ``catchUp(_:)``. Throws `unavailable` when the
    /// store or broker cannot be reached.
    public func register(_ session: Session, resume: [ConversationID: Seq] = [:]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            if case .enqueued = control.yield(.register(session, resume: resume, continuation)) { return }
            continuation.resume(throwing: ChatError.unavailable("the node is busy or stopping"))
        }
    }

    /// Removes a session whose connection ended.
    public func unregister(_ session: Session) {
        if case .enqueued = control.yield(.unregister(session)) { return }
        // The control loop is gone (shutdown) or full: drop the session from the data plane at least.
        state.withLock { state in
            state.sessions[session.principal.user]?[session.id] = nil
            state.catchUps[session.id] = nil
            for workspace in SupportRules.agentWorkspaces(of: session.principal) { state.desks[workspace]?[session.id] = nil }
        }
    }

    private func process(_ request: Control) async {
        switch request {
        case .register(let session, let resume, let continuation):
            do {
                try await subscribeSession(session, resume: resume)
                continuation.resume()
            } catch {
                await unregisterNow(session)
                continuation.resume(throwing: ChatError.from(error).code == .internal ? ChatError.unavailable("could not subscribe") : error)
            }
        case .unregister(let session):
            await unregisterNow(session)
        case .joined(let user, let conversation, let lastSeq):
            do {
                try await join(user, conversation, lastSeq: lastSeq)
            } catch {
                logger.warning("join failed", metadata: ["user": "\(user)", "conversation": "\(conversation)", "error": "\(error)"])
            }
        case .left(let user, let conversation):
            let drop = state.withLock { state -> Bool in
                state.memberships[user]?.remove(conversation)
                for session in (state.sessions[user] ?? [:]).keys { state.catchUps[session]?[conversation] = nil }
                return Self.removeMember(user, from: conversation, in: &state)
            }
            if drop { await unsubscribe(.conversation(conversation)) }
        case .repair:
            await repairGaps()
        case .resync:
            await resyncAll()
        }
    }

    /// The broker's link was interrupted (a Redis restart, a reconnect, a dropped burst): events
    /// published meanwhile may be missing. Re-reads every local user's memberships (joins and leaves
    /// it missed) and every relayed conversation from its last delivered seq, so connected clients get
    /// every message anyway. Safe to call at any time: what was already delivered is not repeated.
    public func resync() {
        if case .dropped = control.yield(.resync) {
            logger.error("control queue full; resync not scheduled (the periodic gap repair still runs)")
        }
    }

    private func resyncAll() async {
        let users = state.withLock { state in state.sessions.filter { !$0.value.isEmpty }.map(\.key) }
        for user in users {
            do {
                let positions = try await store.memberships(of: user)
                let known = state.withLock { $0.memberships[user] ?? [] }
                for conversation in known.subtracting(positions.keys) { await process(.left(user, conversation)) }
                for (conversation, position) in positions where !known.contains(conversation) {
                    try await join(user, conversation, lastSeq: position.deliveredSeq)
                }
            } catch {
                logger.warning("resync of memberships failed", metadata: ["user": "\(user)", "error": "\(error)"])
            }
        }
        let relayed = state.withLock { state in state.relays.compactMap { id, relay in relay.expected.map { (id, $0 - 1) } } }
        for (conversation, after) in relayed {
            do {
                try await repair(conversation, after: after)
            } catch {
                logger.warning("resync read failed", metadata: ["conversation": "\(conversation)", "error": "\(error)"])
            }
        }
    }

    private func subscribeSession(_ session: Session, resume: [ConversationID: Seq]) async throws {
        let user = session.principal.user
        // The control loop runs one operation at a time, so nothing else changes this user meanwhile.
        let (first, count) = state.withLock { ($0.sessions[user]?.isEmpty ?? true, $0.sessions[user]?.count ?? 0) }
        guard count < settings.limits.connectionsPerUser else {
            throw ChatError.rateLimited("at most \(settings.limits.connectionsPerUser) connections per user on one node")
        }
        var positions: [ConversationID: Membership]
        if first {
            try await currentBroker.subscribe(.user(user))
            let conversations = try await store.memberships(of: user)
            let fresh = state.withLock { state -> [ConversationID] in
                state.memberships[user] = Set(conversations.keys)
                return conversations.keys.filter { Self.addMember(user, to: $0, in: &state, maxPending: settings.maxPendingPerConversation) }
            }
            for conversation in fresh { try await currentBroker.subscribe(.conversation(conversation)) }
            // Baselines read after subscribing: anything stored later arrives through the broker or a repair.
            positions = try await store.memberships(of: user)
            for conversation in fresh { start(conversation, lastSeq: positions[conversation]?.lastSeq ?? 0) }
        } else {
            positions = try await store.memberships(of: user)
        }
        // The session joins the data plane and gets its catch-up cursors under one lock: no live event
        // can reach it directly before it knows where it stands.
        state.withLock { state in
            state.sessions[user, default: [:]][session.id] = session
            var catchUps: [ConversationID: Seq] = [:]
            for conversation in state.memberships[user] ?? [] {
                guard let position = positions[conversation] else { continue }
                let from = resume[conversation] ?? position.deliveredSeq
                let live = state.relays[conversation]?.expected ?? (position.lastSeq + 1)
                if from + 1 < live { catchUps[conversation] = from + 1 }
            }
            if !catchUps.isEmpty { state.catchUps[session.id] = catchUps }
        }
        try await joinDesks(session)
    }

    /// Adds an agent's session to its workspaces' desks, subscribing to a desk's channel for the first.
    private func joinDesks(_ session: Session) async throws {
        let workspaces = SupportRules.agentWorkspaces(of: session.principal)
        guard !workspaces.isEmpty else { return }
        let fresh = state.withLock { state in
            workspaces.filter { workspace in
                defer { state.desks[workspace, default: [:]][session.id] = session }
                return state.desks[workspace]?.isEmpty ?? true
            }
        }
        for workspace in fresh { try await currentBroker.subscribe(.desk(workspace)) }
    }

    private func unregisterNow(_ session: Session) async {
        session.endCatchUp()
        let user = session.principal.user
        let emptyDesks = state.withLock { state in
            SupportRules.agentWorkspaces(of: session.principal).filter { workspace in
                guard state.desks[workspace]?.removeValue(forKey: session.id) != nil, state.desks[workspace]?.isEmpty == true else {
                    return false
                }
                state.desks[workspace] = nil
                return true
            }
        }
        for workspace in emptyDesks { await unsubscribe(.desk(workspace)) }
        let (last, dropped) = state.withLock { state -> (Bool, [ConversationID]) in
            state.catchUps[session.id] = nil
            state.sessions[user]?.removeValue(forKey: session.id)
            // Also cleans up after a registration that failed half way (memberships without sessions).
            guard state.sessions[user]?.isEmpty ?? true, state.memberships[user] != nil || state.sessions[user] != nil else {
                return (false, [])
            }
            state.sessions[user] = nil
            let conversations = state.memberships.removeValue(forKey: user) ?? []
            return (true, conversations.filter { Self.removeMember(user, from: $0, in: &state) })
        }
        guard last else { return }
        await unsubscribe(.user(user))
        for conversation in dropped { await unsubscribe(.conversation(conversation)) }
    }

    // MARK: Catch-up

    /// Sends `session` what it is owed from the store (see the type's documentation), page by page as
    /// its outbox makes room, until it is level with the live stream; then waits until it is owed
    /// again (a conversation joined after the node began relaying it), until its connection ends (the
    /// task is cancelled, or the session unregistered). The connection runs this after `welcome`.
    /// `caughtUp` runs each time a catch-up that sent entries has met the live stream.
    public func catchUp(_ session: Session, caughtUp: @Sendable () async -> Void = {}) async {
        var wakeUps = session.catchUpWakeUps.makeAsyncIterator()
        var sent = false
        while !Task.isCancelled {
            let work = state.withLock { state -> (done: Bool, next: (ConversationID, Seq)?) in
                guard let cursors = state.catchUps[session.id] else { return (true, nil) }
                for (conversation, next) in cursors {
                    guard let live = state.relays[conversation]?.expected else { continue }
                    if next < live { return (false, (conversation, next - 1)) }
                }
                return (false, nil)
            }
            if work.done {
                if sent {
                    sent = false
                    await caughtUp()
                }
                guard await wakeUps.next() != nil else { return }
                continue
            }
            guard let (conversation, after) = work.next else {
                // The node's relay is not running yet (its baseline is being read): wait for it.
                do { try await Task.sleep(for: settings.gapRepairInterval) } catch { return }
                continue
            }
            guard await session.outbox.waitForRoom(patience: settings.limits.slowConsumerCloseGrace) else { return }
            let room = max(1, min(settings.limits.maxPageSize, session.outbox.capacity - session.outbox.backlog - 1))
            let page: HistoryPage
            do {
                page = try await store.messages(in: conversation, HistoryQuery(after: after, limit: room))
            } catch {
                logger.warning("catch-up read failed", metadata: ["conversation": "\(conversation)", "error": "\(error)"])
                do { try await Task.sleep(for: settings.gapRepairDelay) } catch { return }
                continue
            }
            let envelopes = page.messages.map { EventPublisher.messageEnvelope($0, origin: settings.nodeID, eventID: 0) }
            sent = sent || !envelopes.isEmpty
            state.withLock { state in
                Self.advance(session, in: conversation, with: envelopes, state: &state, metrics: metrics)
            }
        }
    }

    /// Delivers to a catching-up `session` the entries that continue its cursor, then switches it to
    /// the live path once the cursor meets the node's relay. Entries past a hole are skipped: the
    /// catch-up reads them from the store.
    private static func advance(
        _ session: Session, in conversation: ConversationID, with envelopes: [Envelope], state: inout State, metrics: NodeMetrics
    ) {
        guard let first = state.catchUps[session.id]?[conversation] else { return }
        var next = first
        for envelope in envelopes where envelope.seq == next {
            session.outbox.send(ByteBuffer(bytes: envelope.frame))
            next += 1
        }
        if next > first { metrics.eventsOut(.message, count: Int(next - first)) }
        if next == state.relays[conversation]?.expected {
            state.catchUps[session.id]?[conversation] = nil
            if state.catchUps[session.id]?.isEmpty == true { state.catchUps[session.id] = nil }
        } else {
            state.catchUps[session.id]?[conversation] = next
        }
    }

    /// Delivers a conversation's ordered entries to its local members: directly, or through the
    /// cursor of a session still catching up.
    private static func deliver(_ ready: [Envelope], in conversation: ConversationID, state: inout State, metrics: NodeMetrics) {
        guard !ready.isEmpty else { return }
        let sessions = state.sessions(of: state.members[conversation] ?? [])
        var direct: [Session] = []
        for session in sessions {
            if state.catchUps[session.id]?[conversation] != nil {
                advance(session, in: conversation, with: ready, state: &state, metrics: metrics)
            } else {
                direct.append(session)
            }
        }
        fanOut(ready, to: direct, metrics: metrics)
    }

    private func join(_ user: UserID, _ conversation: ConversationID, lastSeq: Seq) async throws {
        let (fresh, owed) = state.withLock { state -> (Bool?, [Session]) in
            guard state.sessions[user]?.isEmpty == false else { return (nil, []) }
            guard state.memberships[user]?.insert(conversation).inserted == true else { return (nil, []) }
            let fresh = Self.addMember(user, to: conversation, in: &state, maxPending: settings.maxPendingPerConversation)
            guard !fresh, let live = state.relays[conversation]?.expected, lastSeq + 1 < live else { return (fresh, []) }
            // The node already relays this conversation for another local member, and released entries
            // after the join's seq before this join was applied: the user's sessions get them through a
            // catch-up cursor, set under the same lock that added them to the live path.
            let sessions = Array((state.sessions[user] ?? [:]).values)
            for session in sessions where state.catchUps[session.id]?[conversation] == nil {
                state.catchUps[session.id, default: [:]][conversation] = lastSeq + 1
            }
            return (fresh, sessions)
        }
        for session in owed { session.requestCatchUp() }
        guard fresh == true else { return }
        try await currentBroker.subscribe(.conversation(conversation))
        // Start from the seq the conversation had when the user joined, then read what came since.
        start(conversation, lastSeq: lastSeq)
        try await repair(conversation, after: lastSeq)
    }

    private func unsubscribe(_ channel: ChatCore.Channel) async {
        do {
            try await currentBroker.unsubscribe(channel)
        } catch {
            logger.warning("unsubscribe failed", metadata: ["channel": "\(channel)", "error": "\(error)"])
        }
    }

    /// Adds a local member; returns true when the conversation had none (a relay was created).
    private static func addMember(_ user: UserID, to conversation: ConversationID, in state: inout State, maxPending: Int) -> Bool {
        if state.members[conversation] != nil {
            state.members[conversation]?.insert(user)
            return false
        }
        state.members[conversation] = [user]
        state.relays[conversation] = ConversationRelay(maxPending: maxPending)
        return true
    }

    /// Removes a local member; returns true when the conversation has none left (its relay is gone).
    private static func removeMember(_ user: UserID, from conversation: ConversationID, in state: inout State) -> Bool {
        guard state.members[conversation]?.remove(user) != nil else { return false }
        guard state.members[conversation]?.isEmpty == true else { return false }
        state.members[conversation] = nil
        state.relays[conversation] = nil
        return true
    }

    private func start(_ conversation: ConversationID, lastSeq: Seq) {
        let now = clock.now()
        state.withLock { state in
            guard var relay = state.relays[conversation] else { return }
            let ready = relay.start(lastSeq: lastSeq, now: now)
            state.relays[conversation] = relay
            Self.deliver(ready, in: conversation, state: &state, metrics: metrics)
        }
    }

    private func repairGaps() async {
        let now = clock.now()
        let due = state.withLock { state in
            state.relays.compactMap { id, relay in relay.repairPoint(now: now, delay: settings.gapRepairDelay).map { (id, $0) } }
        }
        for (conversation, after) in due {
            do {
                try await repair(conversation, after: after)
            } catch {
                logger.warning("gap repair failed", metadata: ["conversation": "\(conversation)", "error": "\(error)"])
            }
        }
    }

    /// Reads what the store has after `after`, page by page, and feeds it through the relay as if it
    /// had arrived. When a read fails, the relay is marked unconfirmed, so the periodic gap repair
    /// tries again even if no later event ever reveals a gap.
    private func repair(_ conversation: ConversationID, after: Seq) async throws {
        var after = after
        while true {
            let page: HistoryPage
            do {
                page = try await store.messages(in: conversation, HistoryQuery(after: after, limit: settings.limits.maxPageSize))
            } catch {
                let now = clock.now()
                state.withLock { $0.relays[conversation]?.unconfirmed(now: now) }
                throw error
            }
            let envelopes = page.messages.map { EventPublisher.messageEnvelope($0, origin: settings.nodeID, eventID: 0) }
            let now = clock.now()
            let relayed = state.withLock { state -> Bool in
                guard var relay = state.relays[conversation] else { return false }
                var ready: [Envelope] = []
                for envelope in envelopes { ready += relay.receive(envelope, now: now) }
                if !page.hasMore { relay.confirmed() }
                state.relays[conversation] = relay
                Self.deliver(ready, in: conversation, state: &state, metrics: metrics)
                return true
            }
            guard relayed, page.hasMore, let last = page.messages.last else { return }
            after = last.seq
        }
    }

    // MARK: Data plane

    /// The broker's envelope handler. Never blocks; see the type's documentation.
    public func handle(_ envelope: Envelope) {
        metrics.received(envelope.kind)
        switch envelope.kind {
        case .message:
            guard let conversation = envelope.conversation else { return }
            let now = clock.now()
            let ready = state.withLock { state -> [Envelope] in
                guard var relay = state.relays[conversation] else { return [] }
                let ready = relay.receive(envelope, now: now)
                state.relays[conversation] = relay
                // Enqueued under the lock so that concurrent handlers cannot reorder one conversation's seqs.
                Self.deliver(ready, in: conversation, state: &state, metrics: metrics)
                return ready
            }
            for entry in ready {
                guard let sentAt = entry.sentAt else { continue }
                metrics.delivery.recordNanoseconds(max(0, now.milliseconds - sentAt.milliseconds) * 1_000_000)
            }
        case .conversationUpdated, .signal:
            guard let conversation = envelope.conversation else { return }
            state.withLock { state in
                Self.fanOut([envelope], to: state.sessions(of: state.members[conversation] ?? []), metrics: metrics)
            }
        case .signalOthers:
            guard let conversation = envelope.conversation else { return }
            state.withLock { state in
                var members = state.members[conversation] ?? []
                if let subject = envelope.subject { members.remove(subject) }
                Self.fanOut([envelope], to: state.sessions(of: members), metrics: metrics)
            }
        case .notice:
            guard case .user(let user) = envelope.channel else { return }
            state.withLock { state in
                Self.fanOut([envelope], to: state.sessions(of: [user]), metrics: metrics)
            }
        case .desk:
            guard case .desk(let workspace) = envelope.channel else { return }
            state.withLock { state in
                Self.fanOut([envelope], to: Array((state.desks[workspace] ?? [:]).values), metrics: metrics)
            }
        case .joined, .left:
            guard let user = envelope.subject, let conversation = envelope.conversation else { return }
            state.withLock { state in
                Self.fanOut([envelope], to: state.sessions(of: [user]), metrics: metrics)
            }
            let request: Control = envelope.kind == .joined
                ? .joined(user, conversation, lastSeq: envelope.seq ?? 0) : .left(user, conversation)
            if case .dropped = control.yield(request) {
                logger.error("control queue full; membership change not applied", metadata: ["user": "\(user)"])
            }
        }
    }

    private static func fanOut(_ envelopes: [Envelope], to sessions: [Session], metrics: NodeMetrics) {
        guard !sessions.isEmpty else { return }
        for envelope in envelopes {
            metrics.eventsOut(envelope.kind, count: sessions.count)
            let bytes = ByteBuffer(bytes: envelope.frame)
            for session in sessions { session.outbox.send(bytes) }
        }
    }

    // MARK: Introspection

    /// Live sessions on this node.
    public var sessionCount: Int { state.withLock { $0.sessions.values.reduce(0) { $0 + $1.count } } }

    /// Conversations this node relays (one broker subscription each).
    public var relayedConversations: Int { state.withLock { $0.relays.count } }

    /// Every live session, for drain and heartbeats.
    public var allSessions: [Session] { state.withLock { $0.sessions.values.flatMap(\.values) } }
}

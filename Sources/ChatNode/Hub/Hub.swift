import ChatCore
import ChatWire
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// This node's live connections and what they listen to. Two planes:
///
/// - The data plane, ``handle(_:)``, is the broker's envelope handler: it looks up local recipients
///   and enqueues the envelope's bytes (encoded once) to their bounded outboxes. It never waits and
///   never reads the store. Its state is sharded by conversation (``HubShard``, `hubShards` of them):
///   an event of a conversation takes only its shard's lock, so several handlers (several pub/sub
///   consumers) deliver to conversations of different shards in parallel. Events addressed to a user
///   or a desk read the per-user registry instead.
/// - The control plane, ``run()``, executes connects, disconnects, joins, leaves and gap repairs one at a
///   time from a bounded queue, so subscription changes never race; the connects waiting at once are one
///   operation, whose subscriptions overlap and whose memberships are one store read
///   (``register(_:resume:)``). The node subscribes to a conversation's channel once, when its first local
///   member connects or joins, and unsubscribes when the last leaves; likewise one user channel per locally
///   connected user, and one desk channel per workspace with a locally connected support agent. The
///   presence channel is subscribed with the first registration and kept: a presence event names the user's
///   conversations, and the hub hands it once to each local session of their other members.
///
/// Resume: a session that connects behind the live stream (its resume position, or the user's
/// delivered watermark, lies below what the node relays) gets a catch-up cursor per such conversation:
/// the seq it needs next. ``catchUp(_:)`` reads from the store after the cursor, page by page as the
/// outbox makes room; live entries that reach the session meanwhile are delivered only if they are the
/// one the cursor expects (the store has the others). Once the cursor meets the node's relay, the
/// session switches to the shared live path under the same (shard) lock, so it receives every entry after its
/// position exactly once and in order, however far behind it was, holding nothing in memory for it.
///
/// Guarantees: each message event reaches every local session of every local member at most once per
/// node and in seq order per conversation (``ConversationRelay``); a missing seq is read from the
/// store after `gapRepairDelay`.
public final class Hub: Service, Sendable {
    private enum Control: Sendable {
        /// Registrations wait in ``registrations``; the control loop takes all that wait at once.
        case registrations
        case unregister(Session)
        case joined(UserID, ConversationID, lastSeq: Seq)
        case left(UserID, ConversationID)
        case repair
        case resync
    }

    /// The data plane, sharded by conversation (``HubShard``).
    private let shards: [LockedShard]
    private let registry = Mutex(HubRegistry())
    /// Sessions waiting to be registered, taken together by the control loop (see ``register(_:resume:)``).
    private let registrations = Mutex<[Registration]>([])

    private struct Registration: Sendable {
        var session: Session
        var resume: [ConversationID: Seq]
        var continuation: CheckedContinuation<Void, any Error>
    }
    private let broker: Mutex<(any Broker)?> = Mutex(nil)
    /// Whether the node subscribed to the presence channel (once; the broker keeps it across reconnects).
    private let presenceSubscribed = Atomic<Bool>(false)
    private let store: any ChatStore
    private let clock: any WallClock
    private let settings: NodeSettings
    private let metrics: NodeMetrics
    private let logger: Logger
    private let controlStream: AsyncStream<Control>
    private let control: AsyncStream<Control>.Continuation
    /// Sessions owed entries again while connected (a conversation joined after the node began
    /// relaying it), whose catch-up ``run()`` starts: at most one entry per live session (the
    /// session's claim), so the line is bounded by the sessions the node holds.
    private let catchUpLine = Mutex(CircularBuffer<Session>())
    private let catchUpWakeUps: AsyncStream<Void>
    private let catchUpWakeUp: AsyncStream<Void>.Continuation

    public init(store: any ChatStore, clock: any WallClock, settings: NodeSettings, metrics: NodeMetrics = .discarding(), logger: Logger) {
        self.metrics = metrics
        self.store = store
        self.clock = clock
        self.settings = settings
        self.logger = logger
        shards = (0..<max(1, settings.hubShards)).map { _ in LockedShard() }
        (controlStream, control) = AsyncStream.makeStream(
            of: Control.self, bufferingPolicy: .bufferingOldest(settings.controlQueueCapacity))
        (catchUpWakeUps, catchUpWakeUp) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
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

    /// Processes control operations until graceful shutdown, and runs the catch-ups that joins start
    /// (as children of this service: nothing waits beside an idle connection for one).
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { [control, settings] in
                while !Task.isCancelled {
                    do { try await Task.sleep(for: settings.gapRepairInterval) } catch { return }
                    control.yield(.repair)
                }
            }
            group.addTask { [self] in
                await withGracefulShutdownHandler {
                    for await request in controlStream { await process(request) }
                } onGracefulShutdown: { [control] in
                    control.finish()
                }
                catchUpWakeUp.finish()
            }
            for await _ in catchUpWakeUps {
                let sessions = catchUpLine.withLock { line in
                    defer { line.removeAll() }
                    return Array(line)
                }
                for session in sessions { group.addTask { [self] in await caughtUp(session) } }
            }
            group.cancelAll()
        }
    }

    /// Registers an authenticated session: once this returns, every event for the user's conversations
    /// reaches its outbox, and entries after `resume` (or after the user's delivered watermark, for
    /// conversations it does not name) are owed to it by ``catchUp(_:)``. Throws `unavailable` when the
    /// store or broker cannot be reached. Registrations that arrive together are done together: the
    /// control loop takes every one waiting: their subscriptions overlap, their memberships are one read.
    public func register(_ session: Session, resume: [ConversationID: Seq] = [:]) async throws {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let waiting = registrations.withLock { waiting -> Bool in
                guard waiting.count < settings.controlQueueCapacity else { return false }
                waiting.append(Registration(session: session, resume: resume, continuation: continuation))
                return true
            }
            guard waiting else {
                continuation.resume(throwing: ChatError.unavailable("the node is busy or stopping"))
                return
            }
            if case .enqueued = control.yield(.registrations) { return }
            // The control loop is gone or full: take the registration back, unless a batch took it already.
            let withdrawn = registrations.withLock { waiting -> Registration? in
                guard let index = waiting.firstIndex(where: { $0.session.id == session.id }) else { return nil }
                return waiting.remove(at: index)
            }
            withdrawn?.continuation.resume(throwing: ChatError.unavailable("the node is busy or stopping"))
        }
    }

    /// Removes a session whose connection ended.
    public func unregister(_ session: Session) {
        if case .enqueued = control.yield(.unregister(session)) { return }
        // The control loop is gone (shutdown) or full: drop the session from the data plane at least.
        registry.withLock { registry in
            registry.sessions[session.principal.user]?[session.id] = nil
            for workspace in SupportRules.agentWorkspaces(of: session.principal) { registry.desks[workspace]?[session.id] = nil }
        }
        for shard in shards { shard.state.withLock { $0.detach(session) } }
    }

    /// The shard that holds `conversation`'s relay, members and cursors.
    private func shard(_ conversation: ConversationID) -> LockedShard {
        shards[Int(UInt(bitPattern: conversation.hashValue) % UInt(shards.count))]
    }

    private func process(_ request: Control) async {
        switch request {
        case .registrations:
            let batch = registrations.withLock { waiting in
                defer { waiting.removeAll() }
                return waiting
            }
            if !batch.isEmpty { await registerAll(batch) }
        case .unregister(let session):
            await unregisterNow(session)
        case .joined(let user, let conversation, let lastSeq):
            do {
                try await join(user, conversation, lastSeq: lastSeq)
            } catch {
                logger.warning("join failed", metadata: ["user": "\(user)", "conversation": "\(conversation)", "error": "\(error)"])
            }
        case .left(let user, let conversation):
            registry.withLock { _ = $0.memberships[user]?.remove(conversation) }
            let drop = shard(conversation).state.withLock { $0.removeMember(user, from: conversation) }
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
        let users = registry.withLock { registry in Set(registry.sessions.filter { !$0.value.isEmpty }.map(\.key)) }
        // One read for every local user: a node holding thousands resyncs in one round trip.
        do {
            let read = try await store.memberships(of: users)
            for user in users {
                let positions = read[user] ?? [:]
                let known = registry.withLock { $0.memberships[user] ?? [] }
                for conversation in known.subtracting(positions.keys) { await process(.left(user, conversation)) }
                for (conversation, position) in positions where !known.contains(conversation) {
                    do {
                        try await join(user, conversation, lastSeq: position.deliveredSeq)
                    } catch {
                        logger.warning("resync of a membership failed", metadata: ["user": "\(user)", "error": "\(error)"])
                    }
                }
            }
        } catch {
            logger.warning("resync of memberships failed", metadata: ["users": "\(users.count)", "error": "\(error)"])
        }
        let relayed = shards.flatMap { shard in
            shard.state.withLock { state in state.relays.compactMap { id, relay in relay.expected.map { (id, $0 - 1) } } }
        }
        for (conversation, after) in relayed {
            do {
                try await repair(conversation, after: after)
            } catch {
                logger.warning("resync read failed", metadata: ["conversation": "\(conversation)", "error": "\(error)"])
            }
        }
    }

    /// Registers a batch of sessions. In phases, each overlapping the batch's round trips: the user
    /// channels of users new to the node are subscribed and their memberships read; their conversations
    /// the node did not relay get relays and are subscribed; then every user's positions are read (the
    /// baselines, read after subscribing: anything stored later arrives through the broker or a
    /// repair); the new relays start; and each session joins the data plane with its catch-up cursors.
    /// A failure fails the sessions of the users it concerns (cleaned up as if they disconnected), not
    /// the rest of the batch.
    private func registerAll(_ batch: [Registration]) async {
        var failures: [ConnectionID: any Error] = [:]
        // The per-user limit, counting the sessions the batch adds.
        var accepted: [Registration] = []
        var counts: [UserID: Int] = registry.withLock { registry in
            Dictionary(batch.map { ($0.session.principal.user, registry.sessions[$0.session.principal.user]?.count ?? 0) }) { first, _ in first }
        }
        for registration in batch {
            let user = registration.session.principal.user
            guard counts[user, default: 0] < settings.limits.connectionsPerUser else {
                failures[registration.session.id] = ChatError.rateLimited(
                    "at most \(settings.limits.connectionsPerUser) connections per user on one node")
                continue
            }
            counts[user, default: 0] += 1
            accepted.append(registration)
        }
        let users = Set(accepted.map(\.session.principal.user))
        // The control loop runs one operation at a time, so nothing else changes these users meanwhile.
        let newcomers = registry.withLock { registry in users.filter { registry.sessions[$0]?.isEmpty ?? true } }
        var failed: [UserID: any Error] = [:]
        let broker: any Broker
        do {
            broker = try currentBroker
        } catch {
            for registration in batch { registration.continuation.resume(throwing: ChatError.unavailable("could not subscribe")) }
            return
        }

        // The presence channel, with the node's first registration (and again after a failed one): a
        // registered session hears its contacts come and go.
        if !presenceSubscribed.load(ordering: .acquiring) {
            do {
                try await broker.subscribe(.presence)
                presenceSubscribed.store(true, ordering: .releasing)
            } catch {
                for registration in batch { registration.continuation.resume(throwing: ChatError.unavailable("could not subscribe")) }
                return
            }
        }

        // Phase 1: the newcomers' user channels, then their memberships (one read for them all, after
        // the subscriptions: a join after the read reaches the user channel).
        let userChannels = await eachOf(newcomers) { user in try await broker.subscribe(.user(user)) }
        for (user, result) in userChannels {
            if case .failure(let error) = result { failed[user] = error }
        }
        let listed = await memberships(of: newcomers.filter { failed[$0] == nil })
        var fresh: [ConversationID: Set<UserID>] = [:]
        for user in newcomers where failed[user] == nil {
            switch listed[user] {
            case .success(let conversations)?:
                registry.withLock { $0.memberships[user] = Set(conversations.keys) }
                for conversation in conversations.keys
                where shard(conversation).state.withLock({ $0.addMember(user, to: conversation, maxPending: settings.maxPendingPerConversation) }) {
                    fresh[conversation, default: []].insert(user)
                }
            case .failure(let error)?: failed[user] = error
            case nil: failed[user] = ChatError.internal("no memberships read")
            }
        }
        // Phase 2: the conversations the node did not relay yet.
        let subscribed = await eachOf(Set(fresh.keys)) { conversation in try await broker.subscribe(.conversation(conversation)) }
        for (conversation, result) in subscribed {
            guard case .failure(let error) = result else { continue }
            for user in fresh[conversation] ?? [] where failed[user] == nil { failed[user] = error }
        }
        // Phase 3: the baselines and every session's positions. A newcomer none of whose conversations
        // is new to the node needs no second read: its relays' baselines are known, and its positions
        // (its delivered watermarks) were read in phase 1.
        let owners = Set(fresh.values.flatMap { $0 })
        let rereads = users.filter { failed[$0] == nil && (!newcomers.contains($0) || owners.contains($0)) }
        var positions = await memberships(of: rereads)
        for user in newcomers where failed[user] == nil && !owners.contains(user) { positions[user] = listed[user] }
        for (user, result) in positions {
            if case .failure(let error) = result { failed[user] = error }
        }
        for (conversation, members) in fresh {
            // Any member's positions were read after the subscription: each is a valid baseline.
            guard let user = members.first(where: { failed[$0] == nil }), case .success(let read)? = positions[user] else { continue }
            start(conversation, lastSeq: read[conversation]?.lastSeq ?? 0)
        }
        // Phase 4: each session joins the data plane and gets its catch-up cursors under each shard's
        // lock: no live event of a conversation can reach it before it knows where it stands there.
        for registration in accepted {
            let session = registration.session, user = session.principal.user
            if let error = failed[user] {
                failures[session.id] = error
                continue
            }
            guard case .success(let read)? = positions[user] else { continue }
            for shard in shards { shard.state.withLock { $0.attach(session, positions: read, resume: registration.resume) } }
            registry.withLock { $0.sessions[user, default: [:]][session.id] = session }
            do {
                try await joinDesks(session)
            } catch {
                failures[session.id] = error
            }
        }
        for registration in batch {
            guard let error = failures[registration.session.id] else {
                registration.continuation.resume()
                continue
            }
            await unregisterNow(registration.session)
            let mapped = ChatError.from(error).code == .internal ? ChatError.unavailable("could not subscribe") : error
            registration.continuation.resume(throwing: mapped)
        }
    }

    /// The memberships of `users`, read together: each user's, or the read's failure for each.
    private func memberships(of users: Set<UserID>) async -> [UserID: Result<[ConversationID: Membership], any Error>] {
        guard !users.isEmpty else { return [:] }
        do {
            let read = try await store.memberships(of: users)
            return Dictionary(uniqueKeysWithValues: users.map { ($0, .success(read[$0] ?? [:])) })
        } catch {
            return Dictionary(uniqueKeysWithValues: users.map { ($0, .failure(error)) })
        }
    }

    /// Runs `body` for each of `keys` at once and collects each one's result.
    private func eachOf<Key: Hashable & Sendable, Value: Sendable>(
        _ keys: Set<Key>, _ body: @escaping @Sendable (Key) async throws -> Value
    ) async -> [Key: Result<Value, any Error>] {
        await withTaskGroup(of: (Key, Result<Value, any Error>).self) { group in
            for key in keys {
                group.addTask {
                    do { return (key, .success(try await body(key))) } catch { return (key, .failure(error)) }
                }
            }
            var results: [Key: Result<Value, any Error>] = [:]
            for await (key, result) in group { results[key] = result }
            return results
        }
    }

    /// Adds an agent's session to its workspaces' desks, subscribing to a desk's channel for the first.
    private func joinDesks(_ session: Session) async throws {
        let workspaces = SupportRules.agentWorkspaces(of: session.principal)
        guard !workspaces.isEmpty else { return }
        let fresh = registry.withLock { registry in
            workspaces.filter { workspace in
                defer { registry.desks[workspace, default: [:]][session.id] = session }
                return registry.desks[workspace]?.isEmpty ?? true
            }
        }
        for workspace in fresh { try await currentBroker.subscribe(.desk(workspace)) }
    }

    private func unregisterNow(_ session: Session) async {
        session.endCatchUp()
        let user = session.principal.user
        let (emptyDesks, last) = registry.withLock { registry -> (Set<WorkspaceID>, Bool) in
            let emptyDesks = SupportRules.agentWorkspaces(of: session.principal).filter { workspace in
                guard registry.desks[workspace]?.removeValue(forKey: session.id) != nil, registry.desks[workspace]?.isEmpty == true else {
                    return false
                }
                registry.desks[workspace] = nil
                return true
            }
            registry.sessions[user]?.removeValue(forKey: session.id)
            // Also cleans up after a registration that failed half way (memberships without sessions).
            guard registry.sessions[user]?.isEmpty ?? true, registry.memberships[user] != nil || registry.sessions[user] != nil else {
                return (emptyDesks, false)
            }
            registry.sessions[user] = nil
            registry.memberships[user] = nil
            return (emptyDesks, true)
        }
        for workspace in emptyDesks { await unsubscribe(.desk(workspace)) }
        let dropped = shards.flatMap { shard in
            shard.state.withLock { state -> [ConversationID] in
                state.detach(session)
                return last ? state.removeUser(user) : []
            }
        }
        guard last else { return }
        await unsubscribe(.user(user))
        for conversation in dropped { await unsubscribe(.conversation(conversation)) }
    }

    // MARK: Catch-up

    /// Sends `session` what it is owed from the store (see the type's documentation), page by page as
    /// its outbox makes room, until it is level with the live stream, and returns; the connection runs
    /// this after `welcome`. A catch-up already running for the session looks for this work instead
    /// (then this returns at once). When the session is owed entries again later (a conversation
    /// joined after the node began relaying it), the hub runs its catch-up itself. Each catch-up that
    /// sent entries runs the session's `caughtUp` when it meets the live stream.
    public func catchUp(_ session: Session) async {
        guard session.claimCatchUp() else { return }
        await caughtUp(session)
    }

    /// The catch-up of a session whose claim the caller holds, until nothing is owed; a catch-up cut
    /// short (the connection ended, the task was cancelled) gives the claim back.
    private func caughtUp(_ session: Session) async {
        if await !level(session) { session.abandonCatchUp() }
    }

    /// Sends what `session` is owed until nothing is; false if it stopped before (see ``caughtUp(_:)``).
    private func level(_ session: Session) async -> Bool {
        var sent = false
        while !Task.isCancelled {
            var owed = false
            var next: (conversation: ConversationID, after: Seq)?
            for shard in shards where next == nil {
                guard let work = shard.state.withLock({ $0.catchUpWork(for: session) }) else { continue }
                owed = true
                next = work
            }
            if !owed {
                if sent {
                    sent = false
                    await session.caughtUp()
                }
                if session.releaseCatchUp() { return true }
                continue
            }
            guard let (conversation, after) = next else {
                // The node's relay is not running yet (its baseline is being read): wait for it.
                do { try await Task.sleep(for: settings.gapRepairInterval) } catch { return false }
                continue
            }
            guard await session.outbox.waitForRoom(patience: settings.limits.slowConsumerCloseGrace) else { return false }
            let room = max(1, min(settings.limits.maxPageSize, session.outbox.capacity - session.outbox.backlog - 1))
            let page: HistoryPage
            do {
                page = try await store.messages(in: conversation, HistoryQuery(after: after, limit: room))
            } catch {
                logger.warning("catch-up read failed", metadata: ["conversation": "\(conversation)", "error": "\(error)"])
                do { try await Task.sleep(for: settings.gapRepairDelay) } catch { return false }
                continue
            }
            let envelopes = page.messages.map { EventPublisher.messageEnvelope($0, origin: settings.nodeID, eventID: 0) }
            sent = sent || !envelopes.isEmpty
            shard(conversation).state.withLock { $0.advance(session, in: conversation, with: envelopes, metrics: metrics) }
        }
        return false
    }

    private func join(_ user: UserID, _ conversation: ConversationID, lastSeq: Seq) async throws {
        // Lock order: a shard, then the registry (never the reverse), so the user's sessions read here
        // are the ones a concurrent fallback unregister has not yet removed from the shard.
        let (fresh, owed) = shard(conversation).state.withLock { state -> (Bool?, [Session]) in
            let sessions = registry.withLock { registry -> [ConnectionID: Session]? in
                guard let sessions = registry.sessions[user], !sessions.isEmpty,
                    registry.memberships[user, default: []].insert(conversation).inserted
                else { return nil }
                return sessions
            }
            guard let sessions else { return (nil, []) }
            let fresh = state.addMember(user, to: conversation, maxPending: settings.maxPendingPerConversation)
            state.sessions[user, default: [:]].merge(sessions) { current, _ in current }
            guard !fresh, let live = state.relays[conversation]?.expected, lastSeq + 1 < live else { return (fresh, []) }
            // The node already relays this conversation for another local member, and released entries
            // after the join's seq before this join was applied: the user's sessions get them through a
            // catch-up cursor, set under the same lock that added them to the live path.
            for session in sessions.keys where state.catchUps[session]?[conversation] == nil {
                state.catchUps[session, default: [:]][conversation] = lastSeq + 1
            }
            return (fresh, Array(sessions.values))
        }
        for session in owed where session.claimCatchUp() {
            catchUpLine.withLock { $0.append(session) }
            catchUpWakeUp.yield()
        }
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

    private func start(_ conversation: ConversationID, lastSeq: Seq) {
        let now = clock.now()
        shard(conversation).state.withLock { state in
            guard var relay = state.relays[conversation] else { return }
            let ready = relay.start(lastSeq: lastSeq, now: now)
            state.relays[conversation] = relay
            state.deliver(ready, in: conversation, metrics: metrics)
        }
    }

    private func repairGaps() async {
        let now = clock.now()
        let due = shards.flatMap { shard in
            shard.state.withLock { state in
                state.relays.compactMap { id, relay in relay.repairPoint(now: now, delay: settings.gapRepairDelay).map { (id, $0) } }
            }
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
        let shard = shard(conversation)
        var after = after
        while true {
            let page: HistoryPage
            do {
                page = try await store.messages(in: conversation, HistoryQuery(after: after, limit: settings.limits.maxPageSize))
            } catch {
                let now = clock.now()
                shard.state.withLock { $0.relays[conversation]?.unconfirmed(now: now) }
                throw error
            }
            let envelopes = page.messages.map { EventPublisher.messageEnvelope($0, origin: settings.nodeID, eventID: 0) }
            let now = clock.now()
            let relayed = shard.state.withLock { state -> Bool in
                guard state.relays[conversation] != nil else { return false }
                _ = state.relay(envelopes, in: conversation, now: now, metrics: metrics)
                if !page.hasMore { state.relays[conversation]?.confirmed() }
                return true
            }
            guard relayed, page.hasMore, let last = page.messages.last else { return }
            after = last.seq
        }
    }

    // MARK: Data plane

    /// The broker's envelope handler. Never blocks, and may be called from several threads at once
    /// (one per pub/sub consumer); see the type's documentation.
    public func handle(_ envelope: Envelope) {
        metrics.received(envelope.kind)
        switch envelope.kind {
        case .message:
            guard let conversation = envelope.conversation else { return }
            let now = clock.now()
            // Enqueued under the shard's lock, so that concurrent handlers cannot reorder one conversation's seqs.
            let ready = shard(conversation).state.withLock { $0.relay([envelope], in: conversation, now: now, metrics: metrics) }
            for entry in ready {
                guard let sentAt = entry.sentAt else { continue }
                metrics.delivery.recordNanoseconds(max(0, now.milliseconds - sentAt.milliseconds) * 1_000_000)
            }
        case .conversationUpdated, .signal:
            guard let conversation = envelope.conversation else { return }
            shard(conversation).state.withLock { state in
                HubShard.fanOut([envelope], to: state.sessions(of: state.members[conversation] ?? []), metrics: metrics)
            }
        case .signalOthers:
            guard let conversation = envelope.conversation else { return }
            shard(conversation).state.withLock { state in
                var members = state.members[conversation] ?? []
                if let subject = envelope.subject { members.remove(subject) }
                HubShard.fanOut([envelope], to: state.sessions(of: members), metrics: metrics)
            }
        case .presence:
            guard let subject = envelope.subject else { return }
            var recipients: [ConnectionID: Session] = [:]
            for conversation in envelope.conversations {
                shard(conversation).state.withLock { state in
                    guard var members = state.members[conversation] else { return }
                    members.remove(subject)
                    for session in state.sessions(of: members) { recipients[session.id] = session }
                }
            }
            HubShard.fanOut([envelope], to: Array(recipients.values), metrics: metrics)
        case .notice:
            guard case .user(let user) = envelope.channel else { return }
            registry.withLock { HubShard.fanOut([envelope], to: $0.sessions(of: user), metrics: metrics) }
        case .desk:
            guard case .desk(let workspace) = envelope.channel else { return }
            registry.withLock { HubShard.fanOut([envelope], to: Array(($0.desks[workspace] ?? [:]).values), metrics: metrics) }
        case .joined, .left:
            guard let user = envelope.subject, let conversation = envelope.conversation else { return }
            registry.withLock { HubShard.fanOut([envelope], to: $0.sessions(of: user), metrics: metrics) }
            let request: Control = envelope.kind == .joined
                ? .joined(user, conversation, lastSeq: envelope.seq ?? 0) : .left(user, conversation)
            if case .dropped = control.yield(request) {
                logger.error("control queue full; membership change not applied", metadata: ["user": "\(user)"])
            }
        }
    }

    // MARK: Introspection

    /// Live sessions on this node.
    public var sessionCount: Int { registry.withLock { $0.sessions.values.reduce(0) { $0 + $1.count } } }

    /// Conversations this node relays (one broker subscription each).
    public var relayedConversations: Int { shards.reduce(0) { $0 + $1.state.withLock { $0.relays.count } } }

    /// The conversations of `user` while the user has a session here (else none).
    public func conversations(of user: UserID) -> Set<ConversationID> { registry.withLock { $0.memberships[user] ?? [] } }

    /// Every live session, for drain and heartbeats.
    public var allSessions: [Session] { registry.withLock { $0.sessions.values.flatMap(\.values) } }
}

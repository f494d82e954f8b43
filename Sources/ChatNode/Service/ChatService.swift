import ChatCore
import ChatWire
import Foundation
import Logging

/// Executes commands for an authenticated caller: applies ``ConversationRules``, writes through the
/// store, keeps the cache correct, and publishes what changed. The one implementation of every
/// operation, used alike by WebSocket frames and REST routes.
///
/// Guarantees: a send is acknowledged only after the store has it; a non-participant gets `not_found`
/// for any conversation, so they learn nothing; errors are ``ChatError``s.
public struct ChatService: Sendable {
    public let store: any ChatStore
    public let support: any SupportStore
    public let cache: any Cache
    public let presence: any Presence
    public let rateLimit: any RateLimit
    public let publisher: EventPublisher
    /// Where a stored entry's invalidation and event go together (one round trip on Redis).
    public let changes: any ChangeFeed
    public let clock: any WallClock
    public let ids: any IDGenerator
    public let settings: NodeSettings
    /// Schedules notices for participants who are away; nil when no notifier is configured.
    public let notices: AwayNotices?
    let logger: Logger
    private let typingLimiter: RateLimiter<TypingKey>

    public init(
        store: any ChatStore, support: any SupportStore, cache: any Cache, presence: any Presence, rateLimit: any RateLimit,
        publisher: EventPublisher, changes: any ChangeFeed,
        clock: any WallClock, ids: any IDGenerator, settings: NodeSettings, notices: AwayNotices? = nil, logger: Logger
    ) {
        self.notices = notices
        self.store = store
        self.support = support
        self.cache = cache
        self.presence = presence
        self.typingLimiter = RateLimiter(oncePer: settings.typingThrottle)
        self.rateLimit = rateLimit
        self.publisher = publisher
        self.changes = changes
        self.clock = clock
        self.ids = ids
        self.settings = settings
        self.logger = logger
    }

    private var limits: Limits { settings.limits }

    /// Runs `command` as `caller`. A send calls `placed` once its draft has its place in the store's
    /// line (``ChatStore/append(_:placed:)``); other commands never call it.
    public func execute(_ command: Command, as caller: Principal, placed: @escaping @Sendable () -> Void = {}) async throws -> Reply {
        let user = caller.user
        switch command {
        case .createDirect(let other, let workspace):
            try ConversationRules.checkDirect(creator: user, other: other)
            let (conversation, created) = try await store.createDirect(
                id: ids.conversationID(), between: user, and: other, workspace: workspace, at: clock.now())
            if created {
                await invalidateLists(of: conversation.participants.map(\.user))
                await publish { try await publisher.joined(conversation.participants.map(\.user), conversation, notifyMembers: false) }
            }
            return .conversation(ConversationReply(conversation: ConversationBody(conversation), created: created))

        case .createGroup(let title, let participants, let workspace):
            let checked = try ConversationRules.checkGroup(creator: user, title: title, others: participants, limits: limits)
            let conversation = try await store.createGroup(
                id: ids.conversationID(), title: checked.title, creator: user, others: checked.others,
                workspace: workspace, at: clock.now())
            await invalidateLists(of: conversation.participants.map(\.user))
            await publish { try await publisher.joined(conversation.participants.map(\.user), conversation, notifyMembers: false) }
            return .conversation(ConversationReply(conversation: ConversationBody(conversation), created: true))

        case .listConversations(let cursor, let limit, let workspace):
            return .conversationList(try await list(user, cursor: cursor, limit: limit, workspace: workspace))

        case .getConversation(let id):
            let conversation = try ConversationRules.visible(try await store.conversation(id), to: user)
            let activity = try await cached(.conversationActivity(id), ttl: settings.activityCacheTTL) {
                guard let activity = try await store.activity(of: id) else { throw ChatError.notFound("no such conversation") }
                return ActivityBody(activity)
            }
            return .conversation(ConversationReply(conversation: ConversationBody(conversation), lastMessage: activity.lastMessage))

        case .addParticipants(let id, let users, let role):
            let conversation = try ConversationRules.visible(try await store.conversation(id), to: user)
            try ConversationRules.checkManage(conversation, by: user)
            let fresh = try ConversationRules.usersToAdd(users, to: conversation, limits: limits)
            guard !fresh.isEmpty else { return .conversation(ConversationReply(conversation: ConversationBody(conversation))) }
            let updated = try await store.addParticipants(fresh, role: role, to: id, at: clock.now())
            await invalidate(lists: fresh, andShown: id)
            await publish { try await publisher.joined(fresh, updated, notifyMembers: true) }
            return .conversation(ConversationReply(conversation: ConversationBody(updated)))

        case .removeParticipant(let id, let target):
            let conversation = try ConversationRules.visible(try await store.conversation(id), to: user)
            if target != user { try ConversationRules.checkManage(conversation, by: user) }
            return .conversation(ConversationReply(conversation: ConversationBody(try await remove(target, from: conversation))))

        case .leave(let id):
            let conversation = try ConversationRules.visible(try await store.conversation(id), to: user)
            _ = try await remove(user, from: conversation)
            return .empty

        case .setRole(let id, let target, let role):
            let conversation = try ConversationRules.visible(try await store.conversation(id), to: user)
            try ConversationRules.checkRoleChange(of: target, to: role, in: conversation, by: user)
            let updated = try await store.setRole(role, of: target, in: id)
            await invalidate(lists: [], andShown: id)
            await publish { try await publisher.updated(updated) }
            return .conversation(ConversationReply(conversation: ConversationBody(updated)))

        case .send(let id, let clientID, let kind, let content, let metadata):
            let metadataBytes = try metadata.map { try JSONEncoder().encode($0).count } ?? 0
            try ConversationRules.checkSend(kind: kind, content: content, metadata: metadata, metadataBytes: metadataBytes, limits: limits)
            try await checkRate(user)
            // The append checks that the sender takes part (notFound otherwise) and names the
            // participants: nothing is read before it.
            let result = try await store.append(
                MessageDraft(
                    id: ids.messageID(), conversation: id, sender: user, clientID: clientID, kind: kind, content: content,
                    metadata: metadata, createdAt: clock.now()),
                placed: placed)
            if result.created { await notices?.postStored(in: id) }
            return await stored(result, in: id)

        case .history(let id, let before, let after, let limit):
            let query = HistoryQuery(before: before, after: after, limit: try limits.pageSize(limit))
            let empty = try ConversationRules.checkHistory(query)
            _ = try ConversationRules.visible(try await store.conversation(id), to: user)
            let page = empty ? HistoryPage(messages: [], hasMore: false) : try await store.messages(in: id, query)
            return .history(HistoryReply(messages: page.messages.map(MessageBody.init), hasMore: page.hasMore))

        case .act(let id, let action, let clientID, let content, let metadata):
            guard let targetSeq = action.target else { throw ChatError.validation("a post is sent with message.send") }
            let metadataBytes = try metadata.map { try JSONEncoder().encode($0).count } ?? 0
            try await checkRate(user)
            let conversation = try ConversationRules.visible(try await store.conversation(id), to: user)
            let target = try await store.message(targetSeq, in: id)
            try ConversationRules.checkAct(
                action, on: target, in: conversation, by: user, content: content, metadata: metadata, metadataBytes: metadataBytes, limits: limits)
            let result = try await store.append(
                MessageDraft(
                    id: ids.messageID(), conversation: id, sender: user,
                    clientID: clientID ?? ClientMessageID(trusted: ids.messageID().rawValue), action: action,
                    kind: target?.kind ?? .text, content: content, metadata: metadata, createdAt: clock.now()))
            return await stored(result, in: id)

        case .markReceipt(let id, let delivered, let read):
            _ = try ConversationRules.visible(try await store.conversation(id), to: user)
            let marks = try await store.markWatermarks(of: user, in: id, delivered: delivered, read: read)
            let body = ReceiptBody(conversation: id.rawValue, user: user.rawValue, deliveredSeq: marks.deliveredSeq, readSeq: marks.readSeq)
            if marks.moved {
                // Unread counts (the reader's) and watermarks (everyone's list shows them) changed.
                await invalidate(lists: [], andShown: id)
                await publish { try await publisher.receipt(body, in: id) }
            }
            return .receipt(body)

        case .typing(let id):
            let now = clock.now()
            // Throttled signals are acknowledged and dropped before any read: typing is advisory.
            guard typingLimiter.allow(TypingKey(user: user, conversation: id), now: now) else { return .empty }
            let conversation = try ConversationRules.visible(try await store.conversation(id), to: user)
            try ConversationRules.checkOpen(conversation)
            await publish { try await publisher.typing(user, in: id, expiresIn: settings.typingExpiry) }
            return .empty

        case .presence(let users):
            guard users.count <= limits.maxPresenceQueryUsers else {
                throw ChatError.validation("ask for at most \(limits.maxPresenceQueryUsers) users at once")
            }
            // Only people who share a conversation with the caller are shown; others read as unknown.
            var visible = try await store.contacts(of: user)
            visible.insert(user)
            let known = try await presence.status(of: users.filter { visible.contains($0) })
            let byUser = Dictionary(known.map { ($0.user, $0) }, uniquingKeysWith: { first, _ in first })
            return .presence(
                PresenceReply(
                    users: users.map { byUser[$0].map(PresenceBody.init) ?? PresenceBody(user: $0.rawValue, online: false, lastSeen: nil) }))

        case .archive(let id, let archived):
            if !archived {
                // A closed conversation reads archived for everyone, for good.
                try ConversationRules.checkOpen(try ConversationRules.visible(try await store.conversation(id), to: user))
            }
            try await store.setArchived(archived, for: user, in: id)
            await invalidateLists(of: [user])
            return .empty

        case .close(let id):
            let conversation = try ConversationRules.visible(try await store.conversation(id), to: user)
            try ConversationRules.checkClose(conversation, by: user)
            let closed = try await store.close(id, at: clock.now())
            await invalidate(lists: [], andShown: id)
            if conversation.closedAt == nil {
                await publish { try await publisher.updated(closed) }
                if closed.kind == .support, let request = try await support.supportRequest(for: id) {
                    await publish { try await publisher.desk(.supportClosed, request) }
                }
            }
            return .conversation(ConversationReply(conversation: ConversationBody(closed)))

        case .openSupport(let workspace, let subject, let kind, let content, let metadata, let clientID):
            let metadataBytes = try metadata.map { try JSONEncoder().encode($0).count } ?? 0
            let subject = try SupportRules.checkOpen(
                subject: subject, kind: kind, content: content, metadata: metadata, metadataBytes: metadataBytes, limits: limits)
            try await checkRate(user)
            let conversation = ids.conversationID()
            let opened = try await support.openSupportRequest(
                SupportOpening(
                    id: ids.supportRequestID(), conversation: conversation, workspace: workspace, customer: user, subject: subject,
                    description: MessageDraft(
                        id: ids.messageID(), conversation: conversation, sender: user,
                        clientID: clientID ?? ClientMessageID(trusted: ids.messageID().rawValue), kind: kind, content: content,
                        metadata: metadata, createdAt: clock.now())))
            if opened.created {
                await invalidateLists(of: [user])
                await publish { try await publisher.joined([user], opened.conversation, notifyMembers: false) }
                await publish { try await publisher.desk(.supportQueued, opened.request) }
            }
            return .supportOpened(
                SupportOpenReply(
                    request: SupportRequestBody(opened.request), conversation: ConversationBody(opened.conversation), created: opened.created))

        case .supportQueue(let workspace, let limit):
            try SupportRules.checkAgent(caller, of: workspace)
            let requests = try await support.waitingSupportRequests(in: workspace, limit: try limits.pageSize(limit))
            return .supportQueue(SupportQueueReply(requests: requests.map(SupportRequestBody.init)))

        case .claimSupport(let id):
            guard let request = try await support.supportRequest(id), SupportRules.agentWorkspaces(of: caller).contains(request.workspace)
            else { throw ChatError.notFound("no such support request") }
            let outcome = try await support.claimSupportRequest(id, by: user, at: clock.now())
            if case .won(let claimed, let conversation) = outcome {
                await invalidate(lists: [user], andShown: conversation.id)
                await publish { try await publisher.joined([user], conversation, notifyMembers: true) }
                await publish { try await publisher.desk(.supportClaimed, claimed) }
            }
            return .supportClaim(SupportClaimReply.of(outcome))
        }
    }

    /// Puts back in the queue the requests `agent` holds without having replied (their last connection
    /// went away, see ``SupportDesk``): they leave the conversations, the workspaces' agents see the
    /// requests again.
    public func requeueSupport(of agent: UserID) async throws -> Int {
        let requeued = try await support.requeueSupportRequests(claimedBy: agent)
        for (request, conversation) in requeued {
            await invalidate(lists: [agent], andShown: conversation.id)
            await publish { try await publisher.left(agent, conversation) }
            await publish { try await publisher.desk(.supportQueued, request) }
        }
        return requeued.count
    }

    /// Messages per second per user (a token bucket shared by every node); over it: `rate_limited`,
    /// nothing stored. When the limiter cannot be reached, the message goes through: the limit protects
    /// the cluster, it must never cost a message.
    private func checkRate(_ user: UserID) async throws {
        let allowed: Bool
        do {
            allowed = try await rateLimit.take(.messages(user), rule: RateLimitRule(perSecond: limits.messagesPerSecond, burst: limits.messageBurst))
        } catch {
            logger.warning("rate limiter unreachable; letting the message through", metadata: ["error": "\(error)"])
            allowed = true
        }
        guard allowed else {
            throw ChatError.rateLimited(
                "more than \(limits.messageBurst) messages at once or \(Int(limits.messagesPerSecond)) per second; retry later")
        }
    }

    private func remove(_ target: UserID, from conversation: Conversation) async throws -> Conversation {
        let promote = try ConversationRules.removal(of: target, from: conversation)
        let updated = try await store.removeParticipant(target, from: conversation.id, promote: promote)
        await invalidate(lists: [target], andShown: conversation.id)
        await publish { try await publisher.left(target, updated) }
        return updated
    }

    /// The first page (default size, all workspaces) comes from the cache when it can; the rest from the store.
    private func list(_ user: UserID, cursor: ConversationCursor?, limit: Int?, workspace: WorkspaceID?) async throws
        -> ConversationListReply
    {
        let size = try limits.pageSize(limit)
        let load = {
            let page = try await store.conversations(of: user, workspace: workspace, after: cursor, limit: size)
            return ConversationListReply(conversations: page.items.map(SummaryBody.init), nextCursor: page.nextCursor)
        }
        guard cursor == nil, workspace == nil, size == limits.defaultPageSize else { return try await load() }
        // The first page shows each of the user's conversations as it is now: it depends on their
        // activity keys, whose tickets are taken before the page is read (after the memberships:
        // a membership change invalidates the list itself).
        return try await cached(.conversationList(user), ttl: settings.listCacheTTL, load: load) {
            try await store.memberships(of: user).keys.map(CacheKey.conversationActivity)
        }
    }

    /// The cached value of `key`, or what `load` reads from the store, then cached. The cache's ticket
    /// keeps a load that raced a write from caching what the write replaced; a cache that cannot be
    /// reached costs a store read and nothing else.
    private func cached<Value: Codable>(
        _ key: CacheKey, ttl: Duration, load: () async throws -> Value, dependencies: () async throws -> [CacheKey] = { [] }
    ) async throws -> Value {
        var lookup: CacheRead?
        do {
            lookup = try await cache.read(key)
        } catch {
            logger.warning("cache read failed", metadata: ["error": "\(error)"])
        }
        if let bytes = lookup?.value, let value = try? JSONDecoder().decode(Value.self, from: Data(bytes)) { return value }
        var depending: [CacheDependency]?
        if lookup != nil {
            do {
                let keys = try await dependencies()
                depending = zip(keys, try await cache.tickets(keys)).map { CacheDependency(key: $0, ticket: $1) }
            } catch {
                logger.warning("cache dependencies unreadable; not caching", metadata: ["error": "\(error)"])
            }
        }
        let value = try await load()
        if let ticket = lookup?.ticket, let depending {
            do {
                try await cache.fill(key, FrameCodec.body(value), ttl: ttl, ticket: ticket, dependencies: depending)
            } catch {
                logger.warning("cache write failed", metadata: ["error": "\(error)"])
            }
        }
        return value
    }

    /// What follows every append: a new entry (a post, or an edit or deletion that changes a preview)
    /// invalidates the conversation's activity, on which every participant's list depends (order,
    /// preview, unread): one key, whatever the group's size;
    /// then the entry is published (a retry publishes again: if the first publish was lost, this one
    /// delivers; relays drop repeats) and answered, the entry encoded once for both.
    private func stored(_ result: AppendResult, in conversation: ConversationID) async -> Reply {
        let encoded = EncodedMessage(MessageBody(result.message))
        // A new entry changes what every list shows of the conversation (its activity key); the
        // invalidation goes before the event, in one request where the engine allows.
        let stale: [CacheKey] = result.created ? [.conversationActivity(conversation)] : []
        do {
            try await changes.announce(publisher.envelope(of: result.message, encoded: encoded), invalidating: stale)
        } catch {
            if let failure = error.invalidation { logger.warning("cache invalidation failed", metadata: ["error": "\(failure)"]) }
            if let failure = error.publish {
                logger.warning("publish failed; receivers will repair from the store", metadata: ["error": "\(failure)"])
            }
        }
        return .sent(encoded, duplicate: !result.created)
    }

    /// Invalidates the lists of `users` (their memberships or their own state changed).
    private func invalidateLists(of users: [UserID]) async {
        await invalidate(users.map(CacheKey.conversationList))
    }

    /// Invalidates the lists of `users` and what every list shows of `conversation` (its activity key).
    private func invalidate(lists users: [UserID], andShown conversation: ConversationID) async {
        await invalidate(users.map(CacheKey.conversationList) + [.conversationActivity(conversation)])
    }

    /// Runs after the store write: a cached value is never older than the last write that affected it.
    private func invalidate(_ keys: [CacheKey]) async {
        do {
            try await cache.invalidate(keys)
        } catch {
            logger.warning("cache invalidation failed", metadata: ["error": "\(error)"])
        }
    }

    private func publish(_ body: () async throws -> Void) async {
        do {
            try await body()
        } catch {
            logger.warning("publish failed; receivers will repair from the store", metadata: ["error": "\(error)"])
        }
    }
}

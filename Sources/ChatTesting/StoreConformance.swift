import ChatCore

/// A store to test, fresh and empty, and how to dispose of it. Every store keeps the support desk too
/// (support requests share the conversations' transactions).
public struct StoreHarness: ConformanceHarness {
    public let store: any ChatStore & SupportStore
    public let teardown: @Sendable () async -> Void
    public init(store: any ChatStore & SupportStore, teardown: @escaping @Sendable () async -> Void) {
        self.store = store
        self.teardown = teardown
    }
}

/// Makes a fresh ``StoreHarness`` for one check.
public typealias StoreFactory = @Sendable () async throws -> StoreHarness

/// The ``ChatStore`` contract as checks that any implementation must pass.
public enum StoreConformance {
    public static let checks: [ConformanceCheck<StoreFactory>] = [
        .init("direct conversations are unique per pair and workspace", directIsUnique),
        .init("groups store title, creator as admin and members", groupRoles),
        .init("a missing conversation reads as nil and rejects appends", missingConversation),
        .init("appends number messages 1...n and retries return the stored message", appendSequenceAndIdempotency),
        .init("concurrent appends get distinct gap-free seqs", concurrentAppends),
        .init("an append checks that the sender takes part", appendChecksTheSender),
        .init("history pages by before, after and limit", historyPaging),
        .init("conversation lists sort by activity and page by cursor", listOrderAndPaging),
        .init("participants are added, removed, promoted and re-roled", membership),
        .init("metadata and every message kind round-trip", metadataRoundTrip),
        .init("edits, deletions and reactions are entries with their own seqs", actionsAreEntries),
        .init("a conversation's activity follows posts, edits and deletions", activity),
        .init("receipt watermarks only move forwards and drive unread counts", watermarks),
        .init("archive is per user, a post un-archives, close blocks appends", archiveAndClose),
        .init("contacts are everyone who shares a conversation", contacts),
    ] + supportChecks

    static let t0 = Timestamp(milliseconds: 1_700_000_000_000)
    static func at(_ offset: Int64) -> Timestamp { Timestamp(milliseconds: t0.milliseconds + offset) }
    static func user(_ name: String) -> UserID { UserID(name)! }
    static func newID() -> ConversationID { RandomIDGenerator().conversationID() }

    static func draft(_ conversation: ConversationID, _ sender: UserID, _ client: String, _ text: String, at time: Timestamp = t0)
        -> MessageDraft
    {
        MessageDraft(
            id: RandomIDGenerator().messageID(), conversation: conversation, sender: sender,
            clientID: ClientMessageID(client)!, kind: .text, content: text, metadata: nil, createdAt: time)
    }

    static func with(_ factory: StoreFactory, _ body: (any ChatStore & SupportStore) async throws -> Void) async throws {
        try await using(try await factory()) { try await body($0.store) }
    }

    static func directIsUnique(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let (first, created) = try await store.createDirect(id: newID(), between: user("ann"), and: user("bob"), workspace: nil, at: t0)
            try check(created, "first createDirect creates")
            try checkEqual(first.kind, .direct)
            try checkEqual(Set(first.participants.map(\.user)), [user("ann"), user("bob")])
            let (again, createdAgain) = try await store.createDirect(id: newID(), between: user("bob"), and: user("ann"), workspace: nil, at: at(5))
            try check(!createdAgain, "the reverse pair finds the same conversation")
            try checkEqual(again.id, first.id)
            let (scoped, scopedCreated) = try await store.createDirect(
                id: newID(), between: user("ann"), and: user("bob"), workspace: WorkspaceID("w1"), at: t0)
            try check(scopedCreated && scoped.id != first.id, "another workspace is another conversation")
            try checkEqual(scoped.workspace, WorkspaceID("w1"))
        }
    }

    static func groupRoles(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let id = newID()
            let group = try await store.createGroup(
                id: id, title: "Team", creator: user("ann"), others: [user("bob"), user("cat")], workspace: nil, at: t0)
            try checkEqual(group.id, id)
            try checkEqual(group.title, "Team")
            try checkEqual(group.kind, .group)
            try checkEqual(group.createdBy, user("ann"))
            try checkEqual(group.participant(user("ann"))?.role, .admin)
            try checkEqual(group.participant(user("bob"))?.role, .member)
            try checkEqual(group.participants.count, 3)
            try checkEqual(group.lastSeq, 0)
            let read = try await store.conversation(id)
            try checkEqual(read, group, "read back")
        }
    }

    static func missingConversation(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let id = newID()
            try await checkAsync(try await store.conversation(id) == nil, "unknown id reads as nil")
            try await checkThrows(.notFound) { try await store.append(draft(id, user("ann"), "x", "hi")) }
            try await checkThrows(.notFound) { try await store.addParticipants([user("bob")], role: .member, to: id, at: t0) }
        }
    }

    static func appendSequenceAndIdempotency(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let (conversation, _) = try await store.createDirect(id: newID(), between: user("ann"), and: user("bob"), workspace: nil, at: t0)
            var seqs: [Seq] = []
            for index in 1...5 {
                let result = try await store.append(draft(conversation.id, user("ann"), "c\(index)", "hello \(index)", at: at(Int64(index))))
                try check(result.created, "a new client id creates")
                seqs.append(result.message.seq)
            }
            try checkEqual(seqs, [1, 2, 3, 4, 5])
            let retry = try await store.append(draft(conversation.id, user("ann"), "c3", "different text", at: at(100)))
            try check(!retry.created, "a retried client id does not create")
            try checkEqual(retry.message.seq, 3)
            try checkEqual(retry.message.content, "hello 3", "the retry returns the first stored message")
            let other = try await store.append(draft(conversation.id, user("bob"), "c3", "bob's own c3", at: at(101)))
            try check(other.created, "client ids are per sender")
            try checkEqual(other.message.seq, 6)
            let after = try await store.conversation(conversation.id)
            try checkEqual(after?.lastSeq, 6)
            try checkEqual(after?.lastActivityAt, at(101))
            try checkEqual(
                try await store.memberships(of: user("bob")), [conversation.id: Membership(lastSeq: 6, deliveredSeq: 0)],
                "memberships carry the last seq and the delivered watermark")
            let history = try await store.messages(in: conversation.id, HistoryQuery(limit: 100))
            try checkEqual(history.messages.map(\.seq), [1, 2, 3, 4, 5, 6], "no row for the retry")
        }
    }

    static func appendChecksTheSender(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let group = try await store.createGroup(
                id: newID(), title: "t", creator: user("ann"), others: [user("cat"), user("bob")], workspace: nil, at: t0)
            let sent = try await store.append(draft(group.id, user("bob"), "b1", "hi", at: at(1)))
            try check(sent.created, "a participant's post is stored")
            let repeated = try await store.append(draft(group.id, user("bob"), "b1", "hi", at: at(2)))
            try checkEqual(repeated.message, sent.message, "a repeat finds it")
            try check(!repeated.created, "and stores nothing")
            try await checkThrows(.notFound) { try await store.append(draft(group.id, user("eve"), "e1", "let me in", at: at(3))) }
            _ = try await store.removeParticipant(user("cat"), from: group.id, promote: nil)
            try await checkThrows(.notFound) {  // one who left sends no more, not even a retry
                try await store.append(draft(group.id, user("cat"), "b1", "hi", at: at(4)))
            }
            try checkEqual(try await store.messages(in: group.id, HistoryQuery(limit: 10)).messages.map(\.seq), [1], "nothing stored for them")
        }
    }

    static func concurrentAppends(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let group = try await store.createGroup(
                id: newID(), title: "Busy", creator: user("ann"), others: [user("bob"), user("cat")], workspace: nil, at: t0)
            let senders = [user("ann"), user("bob"), user("cat")]
            let results = try await withThrowingTaskGroup(of: AppendResult.self) { tasks in
                for index in 0..<60 {
                    let sender = senders[index % 3]
                    // Every fifth send is a retry of the one before it by the same sender.
                    let client = index % 5 == 4 ? "k\(index - 3)" : "k\(index)"
                    tasks.addTask { try await store.append(draft(group.id, sender, client, "m\(index)")) }
                }
                var all: [AppendResult] = []
                for try await result in tasks { all.append(result) }
                return all
            }
            let created = results.filter(\.created)
            try checkEqual(created.count, 48, "48 distinct client ids")
            try checkEqual(Set(created.map(\.message.seq)), Set(1...48), "seqs are exactly 1...48")
            let history = try await store.messages(in: group.id, HistoryQuery(limit: 200))
            try checkEqual(history.messages.map(\.seq), Array(1...48))
        }
    }

    static func historyPaging(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let (conversation, _) = try await store.createDirect(id: newID(), between: user("ann"), and: user("bob"), workspace: nil, at: t0)
            for index in 1...25 { _ = try await store.append(draft(conversation.id, user("ann"), "h\(index)", "\(index)")) }
            let newest = try await store.messages(in: conversation.id, HistoryQuery(limit: 10))
            try checkEqual(newest.messages.map(\.seq), Array(16...25))
            try check(newest.hasMore, "older entries remain")
            let older = try await store.messages(in: conversation.id, HistoryQuery(before: 16, limit: 10))
            try checkEqual(older.messages.map(\.seq), Array(6...15))
            let oldest = try await store.messages(in: conversation.id, HistoryQuery(before: 6, limit: 10))
            try checkEqual(oldest.messages.map(\.seq), Array(1...5))
            try check(!oldest.hasMore, "nothing before seq 1")
            let forward = try await store.messages(in: conversation.id, HistoryQuery(after: 20, limit: 3))
            try checkEqual(forward.messages.map(\.seq), [21, 22, 23])
            try check(forward.hasMore, "24 and 25 remain")
            let tail = try await store.messages(in: conversation.id, HistoryQuery(after: 23, limit: 3))
            try checkEqual(tail.messages.map(\.seq), [24, 25])
            try check(!tail.hasMore, "nothing after 25")
            let window = try await store.messages(in: conversation.id, HistoryQuery(before: 10, after: 5, limit: 10))
            try checkEqual(window.messages.map(\.seq), [6, 7, 8, 9])
        }
    }

    static func listOrderAndPaging(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            var ids: [ConversationID] = []
            for index in 0..<5 {
                let (conversation, _) = try await store.createDirect(
                    id: newID(), between: user("ann"), and: user("peer\(index)"), workspace: index == 4 ? WorkspaceID("w") : nil,
                    at: at(Int64(index)))
                ids.append(conversation.id)
            }
            _ = try await store.append(draft(ids[1], user("ann"), "a", "latest", at: at(1000)))
            let first = try await store.conversations(of: user("ann"), workspace: nil, after: nil, limit: 2)
            try checkEqual(first.items.map(\.conversation.id), [ids[1], ids[4]], "most recent activity first")
            try checkEqual(first.items.first?.lastMessage?.content, "latest", "newest message included")
            try check(first.items.last?.lastMessage == nil, "no message yet")
            let cursor = try first.nextCursor.flatMap(ConversationCursor.init(token:)).unwrap("a next cursor")
            let second = try await store.conversations(of: user("ann"), workspace: nil, after: cursor, limit: 2)
            try checkEqual(second.items.map(\.conversation.id), [ids[3], ids[2]])
            let last = try await store.conversations(
                of: user("ann"), workspace: nil, after: second.nextCursor.flatMap(ConversationCursor.init(token:)), limit: 2)
            try checkEqual(last.items.map(\.conversation.id), [ids[0]])
            try check(last.nextCursor == nil, "the last page has no cursor")
            let scoped = try await store.conversations(of: user("ann"), workspace: WorkspaceID("w"), after: nil, limit: 10)
            try checkEqual(scoped.items.map(\.conversation.id), [ids[4]], "workspace filter")
            let peer = try await store.conversations(of: user("peer2"), workspace: nil, after: nil, limit: 10)
            try checkEqual(peer.items.map(\.conversation.id), [ids[2]], "only one's own conversations")
        }
    }

    static func membership(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let id = newID()
            _ = try await store.createGroup(id: id, title: "G", creator: user("ann"), others: [user("bob")], workspace: nil, at: t0)
            let added = try await store.addParticipants([user("cat"), user("bob")], role: .moderator, to: id, at: at(10))
            try checkEqual(added.participant(user("cat"))?.role, .moderator)
            try checkEqual(added.participant(user("bob"))?.role, .member, "existing participants are left as they are")
            try checkEqual(try await store.memberships(of: user("cat")), [id: Membership(lastSeq: 0, deliveredSeq: 0)])
            let other = newID()
            _ = try await store.createDirect(id: other, between: user("bob"), and: user("dan"), workspace: nil, at: at(11))
            try checkEqual(
                try await store.memberships(of: [user("bob"), user("cat"), user("zed")]),
                [
                    user("bob"): [id: Membership(lastSeq: 0, deliveredSeq: 0), other: Membership(lastSeq: 0, deliveredSeq: 0)],
                    user("cat"): [id: Membership(lastSeq: 0, deliveredSeq: 0)],
                ],
                "users read together: each one's conversations, none for a user in none")
            let many = try await store.memberships(of: Set((0..<1_200).map { user("u\($0)") }).union([user("cat")]))
            try checkEqual(Set(many.keys), [user("cat")], "more users than a statement's parameters")
            let removed = try await store.removeParticipant(user("ann"), from: id, promote: user("bob"))
            try check(!removed.isParticipant(user("ann")), "ann removed")
            try checkEqual(removed.participant(user("bob"))?.role, .admin, "bob promoted in the same step")
            try checkEqual(try await store.memberships(of: user("ann")), [:])
            let reroled = try await store.setRole(.admin, of: user("cat"), in: id)
            try checkEqual(reroled.participant(user("cat"))?.role, .admin)
        }
    }

    static func metadataRoundTrip(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let (conversation, _) = try await store.createDirect(id: newID(), between: user("ann"), and: user("bob"), workspace: nil, at: t0)
            let metadata: JSONValue = .object([
                "location": .object(["lat": .number(52.52), "lng": .number(13.405)]),
                "attachments": .array([.string("blob:1"), .null, .bool(true), .number(3)]),
            ])
            for (index, kind) in MessageKind.allCases.enumerated() {
                var message = draft(conversation.id, user("ann"), "k\(index)", "ciphertext==\(index) ünïcødé 🎉", at: at(Int64(index)))
                message.kind = kind
                message.metadata = metadata
                _ = try await store.append(message)
            }
            let page = try await store.messages(in: conversation.id, HistoryQuery(limit: 10))
            try checkEqual(page.messages.map(\.kind), MessageKind.allCases)
            for message in page.messages {
                try checkEqual(message.metadata, metadata, "metadata round-trips")
                try check(message.content.hasSuffix("ünïcødé 🎉"), "content round-trips byte for byte")
            }
        }
    }
}

extension StoreConformance {
    static func act(_ conversation: ConversationID, _ sender: UserID, _ client: String, _ action: MessageAction, _ text: String = "")
        -> MessageDraft
    {
        var entry = draft(conversation, sender, client, text, at: at(500))
        entry.action = action
        return entry
    }

    static func actionsAreEntries(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let (conversation, _) = try await store.createDirect(id: newID(), between: user("ann"), and: user("bob"), workspace: nil, at: t0)
            let id = conversation.id
            _ = try await store.append(draft(id, user("ann"), "p1", "first", at: at(1)))
            _ = try await store.append(draft(id, user("bob"), "p2", "second", at: at(2)))
            let edit = try await store.append(act(id, user("ann"), "e1", .edit(target: 1), "first, edited"))
            try checkEqual(edit.message.seq, 3, "an edit takes the next seq")
            try checkEqual(edit.message.action, .edit(target: 1))
            let retried = try await store.append(act(id, user("ann"), "e1", .edit(target: 1), "other"))
            try check(!retried.created, "a retried edit stores nothing")
            _ = try await store.append(act(id, user("bob"), "r1", .react(target: 1, emoji: "👍")))
            _ = try await store.append(act(id, user("ann"), "r2", .react(target: 1, emoji: "👍")))
            _ = try await store.append(act(id, user("ann"), "r3", .react(target: 2, emoji: "🎉")))
            _ = try await store.append(act(id, user("ann"), "r4", .unreact(target: 2, emoji: "🎉")))
            let deleted = try await store.append(act(id, user("bob"), "d1", .delete(target: 2)))
            try checkEqual(deleted.message.seq, 8)
            let page = try await store.messages(in: id, HistoryQuery(limit: 50))
            try checkEqual(page.messages.map(\.seq), Array(1...8), "every action is an entry in the log")
            let first = try page.messages.first.unwrap("post 1")
            try checkEqual(first.content, "first, edited", "a post reads with its latest edit")
            try check(first.editedAt != nil, "an edited post says when")
            try checkEqual(first.reactions, [Reaction(emoji: "👍", users: [user("ann"), user("bob")])], "same time: by user id")
            let second = try await store.message(2, in: id).unwrap("post 2")
            try check(second.isDeleted && second.content.isEmpty, "a deleted post is a tombstone without content")
            try checkEqual(second.reactions, [], "a tombstone keeps no reactions")
            try await checkThrows(.notFound) {
                _ = try await store.append(act(id, user("bob"), "e2", .edit(target: 2), "again"))
            }
            try await checkThrows(.notFound) {
                _ = try await store.append(act(id, user("ann"), "e3", .edit(target: 3), "edit of an edit"))
            }
            let after = try await store.conversation(id).unwrap("conversation")
            try checkEqual(after.lastSeq, 8)
            try checkEqual(after.lastActivityAt, at(2), "only posts move the activity time")
            let list = try await store.conversations(of: user("ann"), workspace: nil, after: nil, limit: 10)
            try checkEqual(list.items.first?.lastMessage?.seq, 2, "the preview is the newest post")
        }
    }

    static func activity(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            try checkEqual(try await store.activity(of: newID()), nil, "no conversation, no activity")
            let id = newID()
            _ = try await store.createGroup(id: id, title: "G", creator: user("ann"), others: [user("bob")], workspace: nil, at: t0)
            try checkEqual(try await store.activity(of: id), ConversationActivity(lastSeq: 0, lastActivityAt: t0, lastPost: nil), "new")
            _ = try await store.append(draft(id, user("ann"), "p1", "first", at: at(1)))
            let second = try await store.append(draft(id, user("bob"), "p2", "second", at: at(2))).message
            var activity = try await store.activity(of: id).unwrap("activity")
            try checkEqual(activity, ConversationActivity(lastSeq: 2, lastActivityAt: at(2), lastPost: second), "after posts")
            _ = try await store.append(act(id, user("bob"), "e1", .edit(target: 2), "second, edited"))
            _ = try await store.append(act(id, user("ann"), "r1", .react(target: 2, emoji: "👍")))
            activity = try await store.activity(of: id).unwrap("activity")
            try checkEqual(activity.lastSeq, 4, "actions move the last seq")
            try checkEqual(activity.lastActivityAt, at(2), "only posts move the activity time")
            try checkEqual(activity.lastPost?.content, "second, edited", "the preview shows the edit")
            try checkEqual(activity.lastPost?.reactions, [], "previews carry no reactions")
            _ = try await store.append(act(id, user("bob"), "d1", .delete(target: 2)))
            activity = try await store.activity(of: id).unwrap("activity")
            try checkEqual(activity.lastPost?.seq, 2)
            try check(activity.lastPost?.isDeleted == true, "a deleted newest post previews as a tombstone")
            let list = try await store.conversations(of: user("ann"), workspace: nil, after: nil, limit: 10)
            try checkEqual(list.items.first?.lastMessage, activity.lastPost, "the same preview as the list")
        }
    }

    static func watermarks(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let id = newID()
            _ = try await store.createGroup(id: id, title: "G", creator: user("ann"), others: [user("bob")], workspace: nil, at: t0)
            for index in 1...4 { _ = try await store.append(draft(id, user("ann"), "m\(index)", "m\(index)", at: at(Int64(index)))) }
            _ = try await store.append(draft(id, user("bob"), "b1", "from bob", at: at(5)))
            func unread(_ name: String) async throws -> Int {
                try await store.conversations(of: user(name), workspace: nil, after: nil, limit: 10).items.first?.unread ?? -1
            }
            try checkEqual(try await unread("bob"), 4, "posts from others count as unread")
            try checkEqual(try await unread("ann"), 1)
            let delivered = try await store.markWatermarks(of: user("bob"), in: id, delivered: 3, read: nil)
            try checkEqual(delivered, Watermarks(deliveredSeq: 3, readSeq: 0, moved: true))
            let read = try await store.markWatermarks(of: user("bob"), in: id, delivered: nil, read: 2)
            try checkEqual(read, Watermarks(deliveredSeq: 3, readSeq: 2, moved: true))
            try checkEqual(try await unread("bob"), 2)
            let backwards = try await store.markWatermarks(of: user("bob"), in: id, delivered: 1, read: 1)
            try checkEqual(backwards, Watermarks(deliveredSeq: 3, readSeq: 2, moved: false), "watermarks never move backwards")
            let clamped = try await store.markWatermarks(of: user("bob"), in: id, delivered: nil, read: 99)
            try checkEqual(clamped, Watermarks(deliveredSeq: 5, readSeq: 5, moved: true), "a read counts as delivered, clamped to the last seq")
            try checkEqual(try await unread("bob"), 0)
            let conversation = try await store.conversation(id).unwrap("conversation")
            try checkEqual(conversation.participant(user("bob"))?.readSeq, 5)
            try checkEqual(try await store.memberships(of: user("bob"))[id]?.deliveredSeq, 5)
            _ = try await store.addParticipants([user("cat")], role: .member, to: id, at: at(10))
            try checkEqual(try await unread("cat"), 0, "a newcomer has nothing unread from before")
            try checkEqual(try await store.memberships(of: user("cat"))[id], Membership(lastSeq: 5, deliveredSeq: 5))
            try await checkThrows(.notFound) {
                _ = try await store.markWatermarks(of: user("dan"), in: id, delivered: 1, read: nil)
            }
        }
    }

    static func archiveAndClose(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            let id = newID()
            _ = try await store.createGroup(id: id, title: "G", creator: user("ann"), others: [user("bob")], workspace: nil, at: t0)
            func archived(_ name: String) async throws -> Bool {
                try await store.conversations(of: user(name), workspace: nil, after: nil, limit: 10).items.first?.archived ?? false
            }
            try await store.setArchived(true, for: user("bob"), in: id)
            try checkEqual(try await archived("bob"), true, "archived for bob")
            try checkEqual(try await archived("ann"), false, "not for ann")
            _ = try await store.append(draft(id, user("ann"), "m1", "news", at: at(1)))
            try checkEqual(try await archived("bob"), false, "a new post un-archives")
            let closed = try await store.close(id, at: at(2))
            try checkEqual(closed.closedAt, at(2))
            try checkEqual(try await archived("ann"), true, "closing archives for everyone")
            try checkEqual(try await archived("bob"), true, "closing archives for everyone")
            try await checkThrows(.conflict) {
                _ = try await store.append(draft(id, user("bob"), "m2", "too late", at: at(3)))
            }
            let retry = try await store.append(draft(id, user("ann"), "m1", "news", at: at(4)))
            try check(!retry.created, "a retry of a send stored before the close still finds it")
            let again = try await store.close(id, at: at(9))
            try checkEqual(again.closedAt, at(2), "closing twice changes nothing")
            try await checkThrows(.notFound) {
                try await store.setArchived(true, for: user("dan"), in: id)
            }
        }
    }

    static func contacts(_ factory: StoreFactory) async throws {
        try await with(factory) { store in
            _ = try await store.createDirect(id: newID(), between: user("ann"), and: user("bob"), workspace: nil, at: t0)
            _ = try await store.createGroup(id: newID(), title: "G", creator: user("ann"), others: [user("cat"), user("bob")], workspace: nil, at: t0)
            _ = try await store.createDirect(id: newID(), between: user("dan"), and: user("eve"), workspace: nil, at: t0)
            try checkEqual(try await store.contacts(of: user("ann")), [user("bob"), user("cat")])
            try checkEqual(try await store.contacts(of: user("cat")), [user("ann"), user("bob")])
            try checkEqual(try await store.contacts(of: user("zed")), [])
        }
    }
}

extension Optional {
    /// The value, or a ``ConformanceFailure`` naming what was missing.
    public func unwrap(_ what: String, file: StaticString = #filePath, line: UInt = #line) throws -> Wrapped {
        guard let value = self else { throw ConformanceFailure(message: "missing \(what)", file: file, line: line) }
        return value
    }
}

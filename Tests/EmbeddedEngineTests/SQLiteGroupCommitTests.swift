import ChatCore
import ChatTesting
import Foundation
import Logging
import Testing

@testable import EmbeddedEngine

/// The embedded store's group commit: appends that wait for the one writer share its next
/// transaction, each with its own result, and the log stays gap-free whatever one of them does.
@Suite struct SQLiteGroupCommitTests {
    static func withStore(_ body: (SQLiteStore, ConversationID) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-group-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // These checks are about numbering and storing once, not the line's deadline (BatcherTests has
        // that, on a test clock): under the whole suite on 2 cores, 300 sends at once have kept a waiter
        // in line past the production 5 s, which would fail a send this test does not mean to time.
        let store = try await SQLiteStore.open(directory: directory, appendWait: .seconds(3600), logger: Logger(label: "test"))
        let (conversation, _) = try await store.createDirect(
            id: RandomIDGenerator().conversationID(), between: UserID("ann")!, and: UserID("bob")!, workspace: nil, at: Timestamp(milliseconds: 1))
        do {
            try await body(store, conversation.id)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
    }

    static func draft(
        _ conversation: ConversationID, _ client: String, sender: String = "ann", id: MessageID? = nil, action: MessageAction = .post,
        at time: Int64 = 2
    ) -> SQLiteStore.PendingAppend {
        SQLiteStore.PendingAppend(
            draft: MessageDraft(
                id: id ?? RandomIDGenerator().messageID(), conversation: conversation, sender: UserID(sender)!,
                clientID: ClientMessageID(client)!, action: action, kind: .text, content: client, metadata: nil,
                createdAt: Timestamp(milliseconds: time)),
            metadata: nil)
    }

    static func batch(_ store: SQLiteStore, _ items: [SQLiteStore.PendingAppend]) async -> [Result<AppendResult, any Error>] {
        await SQLiteStore.append(items) { body in try await store.write(body) }
    }

    @Test func aRepeatedClientIDInOneBatchIsStoredOnceAndARefusedAppendFailsAlone() async throws {
        try await Self.withStore { store, conversation in
            let results = await Self.batch(store, [
                Self.draft(conversation, "a"), Self.draft(conversation, "a"), Self.draft(conversation, "x", sender: "eve"),
                Self.draft(conversation, "b"),
            ])
            let first = try results[0].get(), repeated = try results[1].get(), last = try results[3].get()
            #expect(first.created && first.message.seq == 1)
            #expect(!repeated.created && repeated.message.id == first.message.id, "the repeat returns the first")
            #expect(throws: ChatError.notFound("no such conversation")) { try results[2].get() }
            #expect(last.created && last.message.seq == 2, "no seq taken by the repeat or the refusal")
            let page = try await store.messages(in: conversation, HistoryQuery(before: nil, after: nil, limit: 10))
            #expect(page.messages.map(\.content) == ["a", "b"])
        }
    }

    /// A batch that mixes conversations, repeats, a refusal and an action: each conversation's entries
    /// are numbered in batch order, and the batch leaves each conversation where an append at a time
    /// would have (its last seq, its newest post, its activity time).
    @Test func aBatchOverSeveralConversationsIsNumberedInOrderPerConversation() async throws {
        try await Self.withStore { store, direct in
            let group = try await store.createGroup(
                id: RandomIDGenerator().conversationID(), title: "g", creator: UserID("ann")!, others: [UserID("bob")!], workspace: nil,
                at: Timestamp(milliseconds: 1)
            ).id
            let closed = try await store.createGroup(
                id: RandomIDGenerator().conversationID(), title: "c", creator: UserID("ann")!, others: [], workspace: nil,
                at: Timestamp(milliseconds: 1)
            ).id
            _ = try await store.close(closed, at: Timestamp(milliseconds: 1))
            let stored = try await store.append(Self.draft(direct, "stored").draft)
            let results = await Self.batch(store, [
                Self.draft(group, "g1", at: 5), Self.draft(direct, "d1", at: 3), Self.draft(direct, "stored"),
                Self.draft(group, "g2", sender: "bob", at: 4), Self.draft(closed, "shut"), Self.draft(direct, "d1"),
                Self.draft(direct, "like", action: .react(target: 1, emoji: "👍")),
                Self.draft(group, "g3", at: 6), Self.draft(direct, "d2", at: 7),
            ])
            func seq(_ index: Int) throws -> Int64 { try results[index].get().message.seq }
            #expect(try [seq(0), seq(3), seq(7)] == [1, 2, 3], "the group's posts in batch order")
            #expect(try [seq(1), seq(6), seq(8)] == [2, 3, 4], "the direct one's, the reaction between them taking its seq")
            #expect(try !results[2].get().created && results[2].get().message.id == stored.message.id, "a repeat of a stored post")
            #expect(try !results[5].get().created && results[5].get().message.id == results[1].get().message.id, "a repeat in the batch")
            #expect(throws: ChatError.conflict("the conversation is closed")) { try results[4].get() }
            let groupActivity = try #require(try await store.activity(of: group))
            #expect(groupActivity.lastSeq == 3 && groupActivity.lastPost?.content == "g3" && groupActivity.lastActivityAt.milliseconds == 6)
            let directActivity = try #require(try await store.activity(of: direct))
            #expect(directActivity.lastSeq == 4 && directActivity.lastPost?.content == "d2")
            #expect(try await store.append(Self.draft(group, "after").draft).message.seq == 4, "the next post continues the numbering")
            let page = try await store.messages(in: direct, HistoryQuery(before: nil, after: nil, limit: 10))
            #expect(page.messages.map(\.seq) == [1, 2, 3, 4])
        }
    }

    /// An append that fails after it took its seq rolls its batch back; each append is then tried in a
    /// transaction of its own, so only the bad one fails, the seqs stay gap-free and nothing of it is
    /// left (neither its entry nor its trigger's updates).
    @Test func aBatchWhoseTransactionFailsIsRetriedOneByOneSoOnlyTheBadAppendFails() async throws {
        try await Self.withStore { store, conversation in
            let taken = try await store.append(Self.draft(conversation, "first").draft).message.id
            // The second draft reuses a message id: its insert fails after its seq was taken, which
            // rolls back the whole transaction; alone, each of the others is stored.
            let results = await Self.batch(store, [
                Self.draft(conversation, "c"), Self.draft(conversation, "clash", id: taken), Self.draft(conversation, "d"),
            ])
            #expect(try results[0].get().message.seq == 2)
            #expect(throws: (any Error).self) { try results[1].get() }
            #expect(try results[2].get().message.seq == 3, "gap-free: the failed append's seq was rolled back")
            let page = try await store.messages(in: conversation, HistoryQuery(before: nil, after: nil, limit: 10))
            #expect(page.messages.map(\.seq) == [1, 2, 3])
            let activity = try #require(try await store.activity(of: conversation))
            #expect(activity.lastSeq == 3 && activity.lastPost?.content == "d", "nothing of the failed append is left behind")
        }
    }

    /// A batch runs in its leader's task and carries other callers' appends: the leader's cancellation
    /// (its client went away) must not fail what it carries, nor its own append.
    @Test func anAppendWhoseCallerIsCancelledIsStoredAnyway() async throws {
        try await Self.withStore { store, conversation in
            let stored = try await Task {
                withUnsafeCurrentTask { $0?.cancel() }
                return try await store.append(Self.draft(conversation, "a").draft)
            }.value
            #expect(stored.created && stored.message.seq == 1)
            let page = try await store.messages(in: conversation, HistoryQuery(before: nil, after: nil, limit: 10))
            #expect(page.messages.map(\.content) == ["a"])
        }
    }

    @Test func concurrentAppendsToOneConversationAreGapFreeAndEachStoredOnce() async throws {
        try await Self.withStore { store, conversation in
            let count = 300
            let seqs = try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<count {
                    group.addTask { try await store.append(Self.draft(conversation, "m\(index)").draft).message.seq }
                }
                return try await group.reduce(into: [Int64]()) { $0.append($1) }
            }
            #expect(seqs.sorted() == Array(1...Int64(count)))
            let oldest = try await store.messages(in: conversation, HistoryQuery(before: nil, after: 0, limit: 200))
            let newest = try await store.messages(in: conversation, HistoryQuery(before: nil, after: 200, limit: 200))
            #expect((oldest.messages + newest.messages).map(\.seq) == Array(1...Int64(count)), "the log holds each once, in order")
        }
    }
}

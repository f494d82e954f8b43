import ChatCore
import ChatTesting
import Foundation
import Logging
import PostgresNIO
import Testing

@testable import PostgresEngine

/// Group commit on a real PostgreSQL: one batch stores each draft once, refuses only the drafts that are
/// refused, fails as a whole when the transaction fails, and concurrent batches stay gap-free.
@Suite struct AppendBatchTests {
    let ann = UserID("ann")!, bob = UserID("bob")!, cat = UserID("cat")!, eve = UserID("eve")!

    func draft(
        _ conversation: ConversationID, _ sender: UserID, _ client: String, _ content: String = "hi", action: MessageAction = .post
    ) -> PostgresStore.PendingAppend {
        PostgresStore.PendingAppend(
            draft: MessageDraft(
                id: RandomIDGenerator().messageID(), conversation: conversation, sender: sender, clientID: ClientMessageID(client)!,
                action: action, kind: .text, content: content, metadata: nil, createdAt: Timestamp(milliseconds: 5)),
            metadata: nil)
    }

    func batch(_ running: RunningStore, _ drafts: [PostgresStore.PendingAppend]) async -> [Result<AppendResult, any Error>] {
        await PostgresStore.append(drafts, running.store.client, Logger(label: "test"), timeout: .seconds(10))
    }

    func code(_ result: Result<AppendResult, any Error>) -> ChatError.Code? {
        guard case .failure(let error) = result else { return nil }
        return (error as? ChatError)?.code
    }

    func seqs(_ running: RunningStore, _ conversation: ConversationID) async throws -> [Seq] {
        try await running.store.messages(in: conversation, HistoryQuery(after: 0, limit: 1000)).messages.map(\.seq)
    }

    @Test func aBatchStoresEachDraftOnceAndRefusesOnlyTheRefused() async throws {
        let running = try await RunningStore.start()
        let store = running.store
        let at = Timestamp(milliseconds: 1)
        let x = try await store.createGroup(id: RandomIDGenerator().conversationID(), title: "x", creator: ann, others: [bob], workspace: nil, at: at)
        let y = try await store.createGroup(id: RandomIDGenerator().conversationID(), title: "y", creator: cat, others: [ann], workspace: nil, at: at)
        let z = try await store.createGroup(id: RandomIDGenerator().conversationID(), title: "z", creator: ann, others: [bob], workspace: nil, at: at)
        _ = try await store.close(z.id, at: at)
        let results = await batch(
            running,
            [
                draft(x.id, ann, "k1", "first"), draft(y.id, cat, "k1"), draft(x.id, ann, "k1", "a retry with other text"),
                draft(x.id, eve, "k2"), draft(x.id, bob, "k3"), draft(z.id, ann, "k1"),
            ])
        let first = try results[0].get(), retry = try results[2].get()
        #expect(first.created && first.message.seq == 1 && first.participants == [ann, bob])
        #expect(try results[1].get().message.seq == 1, "another conversation numbers its own")
        #expect(!retry.created && retry.message.seq == 1 && retry.message.content == "first", "a repeat in the batch finds the first")
        #expect(code(results[3]) == .notFound, "not a participant")
        #expect(try results[4].get().message.seq == 2, "the refused draft took no seq")
        #expect(code(results[5]) == .conflict, "closed")
        #expect(try await seqs(running, x.id) == [1, 2])
        #expect(try await store.conversation(x.id)?.lastSeq == 2)
        await running.stop()
    }

    /// A batch mixing posts, a reaction and an edit: drafts are numbered in batch order, a reaction and
    /// an edit see the post before them in the same batch, and a repeated client id finds its post.
    @Test func aBatchMixingActionsKeepsTheOrderOfItsDrafts() async throws {
        let running = try await RunningStore.start()
        let x = try await running.store.createGroup(
            id: RandomIDGenerator().conversationID(), title: "x", creator: ann, others: [bob], workspace: nil, at: Timestamp(milliseconds: 1))
        let results = await batch(
            running,
            [
                draft(x.id, ann, "p1", "one"), draft(x.id, bob, "r1", action: .react(target: 1, emoji: "👍")),
                draft(x.id, ann, "e1", "one, edited", action: .edit(target: 1)), draft(x.id, bob, "p2", "two"),
                draft(x.id, ann, "p1", "a repeat"),
            ])
        #expect(try results.map { try $0.get().message.seq } == [1, 2, 3, 4, 1])
        #expect(try results.map { try $0.get().created } == [true, true, true, true, false])
        let history = try await running.store.messages(in: x.id, HistoryQuery(after: 0, limit: 10)).messages
        let post = try #require(history.first)
        #expect(post.content == "one, edited" && post.reactions.map(\.emoji) == ["👍"])
        #expect(try await running.store.conversation(x.id)?.lastSeq == 4)
        await running.stop()
    }

    /// The function reads a conversation's row once for all its drafts in a batch and writes its
    /// counters back once: what the row says afterwards (last seq, newest post, activity) is as if each
    /// draft had been stored alone, a post un-archives the conversation for whoever archived it, a
    /// reaction moves neither the newest post nor the activity, and a conversation that is only refused
    /// keeps its row as it was.
    @Test func aConversationsRowIsAsIfEachDraftWasStoredAlone() async throws {
        let running = try await RunningStore.start()
        let store = running.store
        let at = Timestamp(milliseconds: 1)
        let x = try await store.createGroup(id: RandomIDGenerator().conversationID(), title: "x", creator: ann, others: [bob], workspace: nil, at: at)
        let y = try await store.createGroup(id: RandomIDGenerator().conversationID(), title: "y", creator: cat, others: [ann], workspace: nil, at: at)
        try await store.setArchived(true, for: bob, in: x.id)
        func stamped(_ pending: PostgresStore.PendingAppend, _ milliseconds: Int64) -> PostgresStore.PendingAppend {
            var pending = pending
            pending.draft.createdAt = Timestamp(milliseconds: milliseconds)
            return pending
        }
        let results = await batch(
            running,
            [
                stamped(draft(x.id, ann, "p1", "one"), 10), stamped(draft(y.id, eve, "s1"), 11), stamped(draft(x.id, bob, "p2", "two"), 30),
                stamped(draft(x.id, ann, "r1", action: .react(target: 2, emoji: "🎉")), 40), stamped(draft(y.id, ann, "e1", "?", action: .edit(target: 9)), 50),
            ])
        #expect(results.map { try? $0.get().message.seq } == [1, nil, 2, 3, nil])
        #expect(code(results[1]) == .notFound && code(results[4]) == .notFound, "a stranger; no such target")
        let activity = try #require(try await store.activity(of: x.id))
        #expect(activity.lastSeq == 3 && activity.lastPost?.seq == 2 && activity.lastPost?.content == "two")
        #expect(activity.lastActivityAt == Timestamp(milliseconds: 30), "a reaction is not activity")
        let bobs = try #require(try await store.conversation(x.id)?.participants.first { $0.user == bob })
        #expect(!bobs.archived, "a post un-archives the conversation")
        let untouched = try #require(try await store.activity(of: y.id))
        #expect(untouched.lastSeq == 0 && untouched.lastPost == nil && untouched.lastActivityAt == at)
        let next = await batch(running, [stamped(draft(x.id, bob, "p3", "three"), 60)])
        #expect(try next[0].get().message.seq == 4, "the next batch continues from the written counters")
        await running.stop()
    }

    @Test func aBatchWhoseTransactionFailsStoresNothingOfIt() async throws {
        let running = try await RunningStore.start()
        let x = try await running.store.createDirect(
            id: RandomIDGenerator().conversationID(), between: ann, and: bob, workspace: nil, at: Timestamp(milliseconds: 1)
        ).conversation
        #expect((try? await batch(running, [draft(x.id, ann, "a")])[0].get().message.seq) == 1)
        // PostgreSQL cannot store U+0000 (the node refuses it before the store): the whole statement fails.
        let failed = await batch(running, [draft(x.id, ann, "b"), draft(x.id, bob, "c"), draft(x.id, ann, "d", "bad\u{0}")])
        #expect(failed.allSatisfy { code($0) != nil }, "every draft of the failed batch fails")
        #expect(try await seqs(running, x.id) == [1], "and none of it is stored")
        let next = await batch(running, [draft(x.id, ann, "b"), draft(x.id, bob, "c")])
        #expect(try next.map { try $0.get().message.seq } == [2, 3], "the next batch goes on without a gap")
        await running.stop()
    }

    /// Batches that name two conversations in opposite orders, all at once: the caller's ordering by
    /// conversation keeps their row locks in one order (no deadlock), and each conversation stays gap-free.
    @Test func concurrentBatchesOverTheSameConversationsStayGapFree() async throws {
        let running = try await RunningStore.start(poolSize: 8)
        let at = Timestamp(milliseconds: 1)
        let x = try await running.store.createDirect(id: RandomIDGenerator().conversationID(), between: ann, and: bob, workspace: nil, at: at)
            .conversation
        let y = try await running.store.createDirect(id: RandomIDGenerator().conversationID(), between: ann, and: cat, workspace: nil, at: at)
            .conversation
        let batches = 16, perBatch = 10
        let outcomes = try await withThrowingTaskGroup(of: [Result<AppendResult, any Error>].self) { group in
            for index in 0..<batches {
                group.addTask {
                    let drafts = (0..<perBatch).map { item in
                        let conversation = (item + index) % 2 == 0 ? x.id : y.id
                        return draft(conversation, ann, "b\(index)-\(item)")
                    }
                    return await batch(running, index % 2 == 0 ? drafts : drafts.reversed())
                }
            }
            var all: [Result<AppendResult, any Error>] = []
            for try await results in group { all += results }
            return all
        }
        #expect(outcomes.allSatisfy { (try? $0.get().created) == true })
        let total = Int64(batches * perBatch / 2)
        #expect(try await seqs(running, x.id) == Array(1...total))
        #expect(try await seqs(running, y.id) == Array(1...total))
        await running.stop()
    }

    /// Nodes of an earlier version call `switchboard_append` during a rolling upgrade: it still answers
    /// with its row and raises its refusals with their SQLSTATEs, through the one batch function.
    @Test func theSingleAppendOfEarlierNodesStillWorks() async throws {
        let running = try await RunningStore.start()
        let x = try await running.store.createDirect(
            id: RandomIDGenerator().conversationID(), between: ann, and: bob, workspace: nil, at: Timestamp(milliseconds: 1)
        ).conversation
        let logger = Logger(label: "test")
        func single(_ sender: UserID, _ client: String) async throws -> [PostgresRow] {
            try await running.store.client.query(
                """
                SELECT m_created, m_seq, m_participants FROM switchboard_append(
                    \(x.id.rawValue), \(RandomIDGenerator().messageID().rawValue), \(sender.rawValue), \(client), 'text', 'post',
                    NULL, NULL, 'hi', NULL, 5)
                """, logger: logger
            ).collect()
        }
        let stored = try #require(try await single(ann, "a").first).decode((Bool, Int64, [String]).self)
        #expect(stored.0 && stored.1 == 1 && stored.2 == ["ann", "bob"])
        let repeated = try #require(try await single(ann, "a").first).decode((Bool, Int64, [String]).self)
        #expect(!repeated.0 && repeated.1 == 1, "a retry finds the stored message")
        do {
            _ = try await single(eve, "b")
            Issue.record("a stranger's append was stored")
        } catch let error as PSQLError {
            #expect(error.serverInfo?[.sqlState] == "SB404")
        }
        #expect(try await seqs(running, x.id) == [1])
        await running.stop()
    }
}

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
        #expect(first.created && first.message.seq == 1)
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

    /// Batches that name two conversations in opposite orders, all at once, half of them only posts (the
    /// set-based posts function) and half with a reaction (the loop): the caller's ordering by
    /// conversation keeps the row locks of both in one order (no deadlock), and each conversation stays
    /// gap-free.
    @Test func concurrentBatchesOverTheSameConversationsStayGapFree() async throws {
        let running = try await RunningStore.start(poolSize: 8)
        let at = Timestamp(milliseconds: 1)
        let x = try await running.store.createDirect(id: RandomIDGenerator().conversationID(), between: ann, and: bob, workspace: nil, at: at)
            .conversation
        let y = try await running.store.createDirect(id: RandomIDGenerator().conversationID(), between: ann, and: cat, workspace: nil, at: at)
            .conversation
        #expect(await batch(running, [draft(x.id, ann, "first"), draft(y.id, ann, "first")]).allSatisfy { (try? $0.get().created) == true })
        let batches = 16, perBatch = 10
        let outcomes = try await withThrowingTaskGroup(of: [Result<AppendResult, any Error>].self) { group in
            for index in 0..<batches {
                group.addTask {
                    let drafts = (0..<perBatch).map { item in
                        let conversation = (item + index) % 2 == 0 ? x.id : y.id
                        return item == 0 && index % 4 >= 2
                            ? draft(conversation, ann, "b\(index)-\(item)", action: .react(target: 1, emoji: "e\(index)"))
                            : draft(conversation, ann, "b\(index)-\(item)")
                    }
                    return await batch(running, index % 2 == 0 ? drafts : drafts.reversed())
                }
            }
            var all: [Result<AppendResult, any Error>] = []
            for try await results in group { all += results }
            return all
        }
        #expect(outcomes.allSatisfy { (try? $0.get().created) == true })
        let total = Int64(1 + batches * perBatch / 2)
        #expect(try await seqs(running, x.id) == Array(1...total))
        #expect(try await seqs(running, y.id) == Array(1...total))
        await running.stop()
    }

    /// A post as the two functions take it: conversation, sender, client id, content, metadata.
    typealias Post = (conversation: String, sender: String, client: String, content: String, metadata: String)

    /// What `function` answers for `batches`, one after the other, and the tables as they leave them, as
    /// text; in a transaction rolled back at the end, so each function starts from the same state.
    func outcome(of function: String, _ batches: [[Post]], _ running: RunningStore) async throws -> (rows: [String], tables: String) {
        let logger = Logger(label: "test")
        return try await running.store.client.withConnection { connection in
            _ = try await connection.query("BEGIN", logger: logger).collect()
            var rows: [String] = []
            for (number, posts) in batches.enumerated() {
                let (conversations, senders, clients) = (posts.map(\.conversation), posts.map(\.sender), posts.map(\.client))
                let ids = posts.indices.map { "m\(number)-\($0)" }, kinds = posts.map { _ in "text" }
                let contents = posts.map(\.content), metadata = posts.map(\.metadata)
                let times = posts.indices.map { Int64(100 * number + $0) }
                let query: PostgresQuery =
                    function == "switchboard_append_posts"
                    ? "SELECT row_to_json(r)::text FROM switchboard_append_posts(\(conversations), \(ids), \(senders), \(clients), \(kinds), \(contents), \(metadata), \(times)) r"
                    : """
                    SELECT row_to_json(r)::text FROM switchboard_append_batch(\(conversations), \(ids), \(senders), \(clients), \(kinds),
                        \(posts.map { _ in "post" }), \(posts.map { _ in Int64(0) }), \(posts.map { _ in "" }), \(contents), \(metadata), \(times)) r
                    """
                for row in try await connection.query(query, logger: logger).collect() { rows.append(try row.decode(String.self)) }
            }
            let tables = try await connection.query(
                """
                SELECT concat_ws(E'\n',
                    (SELECT json_agg(c ORDER BY c.id)::text FROM (SELECT id, last_seq, last_post_seq, last_activity_at FROM conversations) c),
                    (SELECT json_agg(p ORDER BY p.conversation_id, p.user_id)::text FROM (SELECT conversation_id, user_id, archived FROM participants) p),
                    (SELECT json_agg(m ORDER BY m.conversation_id, m.seq)::text FROM messages m),
                    (SELECT json_agg(s ORDER BY s.id)::text FROM (SELECT id, status, agent, answered_at FROM support_requests) s))
                """, logger: logger
            ).collect().first?.decode(String.self) ?? ""
            _ = try await connection.query("ROLLBACK", logger: logger).collect()
            return (rows, tables)
        }
    }

    /// The set-based posts function (migration 8) against the loop it stands in for, on the same batches
    /// from the same state: the same row for every draft and the same tables afterwards, through every
    /// rule a post meets: new posts numbered in order per conversation, a repeat within the batch and of
    /// a stored message, a stranger, a missing and a closed conversation (where a repeat still finds its
    /// message), metadata, un-archiving, and a support agent's first reply answering the claim.
    @Test func thePostsFunctionAnswersDraftForDraftAsTheLoop() async throws {
        let running = try await RunningStore.start()
        let store = running.store
        let at = Timestamp(milliseconds: 1)
        let dan = UserID("dan")!
        let (c1, c2, c3, c4) = (ConversationID("c1")!, ConversationID("c2")!, ConversationID("c3")!, ConversationID("c4")!)
        _ = try await store.createGroup(id: c1, title: "one", creator: ann, others: [bob], workspace: nil, at: at)
        _ = try await store.createGroup(id: c2, title: "two", creator: cat, others: [ann], workspace: nil, at: at)
        _ = try await store.createGroup(id: c3, title: "three", creator: ann, others: [bob], workspace: nil, at: at)
        let stored = await batch(running, [draft(c1, ann, "old", "stored before"), draft(c3, ann, "old", "stored before")])
        #expect(stored.allSatisfy { (try? $0.get().created) == true })
        try await store.setArchived(true, for: bob, in: c1)
        _ = try await store.close(c3, at: at)
        let workspace = WorkspaceID("w")!, request = SupportRequestID("r1")!
        _ = try await store.openSupportRequest(
            SupportOpening(id: request, conversation: c4, workspace: workspace, customer: dan, subject: "help", description: draft(c4, dan, "desc").draft))
        _ = try await store.claimSupportRequest(request, by: eve, at: at)
        let batches: [[Post]] = [
            [
                ("c1", "ann", "k1", "one", ""), ("c1", "bob", "k2", "two", "{\"a\": 1}"), ("c1", "ann", "k1", "a retry", ""),
                ("c1", "eve", "k3", "a stranger", ""), ("c1", "ann", "old", "a late retry", ""), ("c2", "cat", "k1", "elsewhere", ""),
                ("c3", "ann", "old", "a retry after the close", ""), ("c3", "bob", "k5", "closed", ""), ("c4", "eve", "a1", "hello", ""),
                ("c4", "eve", "a2", "again", ""), ("c4", "dan", "d2", "thanks", ""), ("c9", "ann", "k6", "nowhere", ""),
            ],
            [("c1", "bob", "k2", "a retry of the last batch", ""), ("c1", "ann", "k7", "three", ""), ("c4", "eve", "a3", "bye", "")],
        ]
        let loop = try await outcome(of: "switchboard_append_batch", batches, running)
        let posts = try await outcome(of: "switchboard_append_posts", batches, running)
        #expect(posts.rows.count == 15)
        for (expected, actual) in zip(loop.rows, posts.rows) { #expect(actual == expected) }
        #expect(posts.tables == loop.tables)
        // Not vacuous: the batches meet every rule.
        let summary = posts.rows.map { row in
            ["b_error", "m_created", "m_seq"].map { key in
                row.firstRange(of: "\"\(key)\":").map { String(row[$0.upperBound...].prefix { $0 != "," }) } ?? "?"
            }.joined(separator: " ")
        }
        #expect(
            summary == [
                "null true 2", "null true 3", "null false 2", "\"SB404\" null null", "null false 1", "null true 1", "null false 1",
                "\"SB409\" null null", "null true 2", "null true 3", "null true 4", "\"SB404\" null null", "null false 3", "null true 4",
                "null true 5",
            ])
        #expect(posts.tables.contains("\"agent\":\"eve\",\"answered_at\":8}"), "the agent's first reply (the batch's ninth) answered the claim")
        #expect(posts.tables.contains("{\"conversation_id\":\"c1\",\"user_id\":\"bob\",\"archived\":false}"), "a post un-archived the conversation")
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

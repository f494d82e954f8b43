import ChatClient
import ChatCore
import ChatNode
import ChatTesting
import Foundation
import Testing

/// The `redeliver` job on a real node: a device that withholds its delivered receipts gets the range
/// again on the kind's backoff and stops getting it once it acknowledges; one that never acknowledges
/// ends in a dead letter; the SDK's session acknowledges by itself and sees each entry once.
@Suite struct RedeliveryTests {
    /// Delay 300 ms, then 300, 600, 1000 ms between checks (no jitter), four checks.
    static let policy = RetryPolicy(base: .milliseconds(300), factor: 2, cap: .seconds(1), maxAttempts: 4, jitter: 0)
    /// The same steps with attempts to spare: a receipt sent after the third copy may reach the store
    /// after the fourth check on a loaded machine (fresh-clone CI once saw it), and the check after it
    /// must still be one that ends the job, not the last attempt that buries it.
    static let patient = RetryPolicy(base: .milliseconds(300), factor: 2, cap: .seconds(1), maxAttempts: 8, jitter: 0)

    static func node(policy: RetryPolicy = policy) -> TestNode {
        TestNode {
            $0.redeliverDelay = .milliseconds(300)
            $0.jobs.policies[Redelivery.kind] = policy
            $0.jobs.maxIdle = .milliseconds(100)
        }
    }

    /// `switchboard_jobs_total{kind="redeliver",result=…}` on the node.
    static func jobs(_ client: ChatClient, _ result: String) async throws -> Int {
        let (_, body) = try await client.call("GET", "/metrics")
        let prefix = #"switchboard_jobs_total{kind="redeliver",result="\#(result)"} "#
        let line = String(decoding: body, as: UTF8.self).split(separator: "\n").first { $0.hasPrefix(prefix) }
        return line.flatMap { Int(Double($0.dropFirst(prefix.count)) ?? -1) } ?? 0
    }

    @Test func unacknowledgedEntriesComeAgainOnTheBackoffUntilAReceipt() async throws {
        try await Self.node(policy: Self.patient).run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            try await alice.withConnection { a in
                let id = try await a.createDirect(with: "bob").conversation.id
                for index in 1...3 { _ = try await a.send("m\(index)", to: id) }
                try await bob.withConnection { b in
                    func copies() -> Int { b.receivedEntries.filter { $0.conversation == id }.count }
                    try await eventually("the catch-up brings 1…3") { copies() == 3 }
                    try await eventually("the first check sends them again") { copies() == 6 }
                    try await eventually("and the next, after the backoff") { copies() == 9 }
                    try await eventually("and the next, after a longer one") { copies() == 12 }
                    // No wall-clock check of the backoff here: copies arrive a variable time after their
                    // check ran (fresh-clone CI saw 538 ms between arrivals for a 600 ms backoff). The
                    // delays are checked on a manual clock (RulesTests' RetryPolicy, JobRunnerTests).
                    #expect(try await Self.jobs(alice, "retried") >= 2, "each copy came from a check that was retried")
                    #expect(Set(b.receivedEntries.map(\.seq)) == [1, 2, 3], "only what was not acknowledged")
                    let done = try await Self.jobs(alice, "done")
                    _ = try await b.mark(id, delivered: 3)
                    try await eventually("the check after the receipt ends the job") { try await Self.jobs(alice, "done") == done + 1 }
                    let settled = copies()
                    #expect(try await Self.jobs(alice, "buried") == 0)
                    // Nothing is pending any more: no check can send them again.
                    _ = try await a.send("m4", to: id)
                    try await eventually("the live entry") { b.receivedEntries.contains { $0.seq == 4 } }
                    #expect(copies() == settled + 1)
                }
            }
        }
    }

    @Test func aDeviceThatNeverAcknowledgesEndsInADeadLetterAndAnAwayNotice() async throws {
        let receiver = WebhookReceiver()
        try await receiver.serving { hook in
            var node = Self.node()
            node.configuration.notifyWebhookURL = hook
            node.configuration.notifyWebhookSecret = AwayNoticeTests.secret
            node.configuration.notifyDelay = .milliseconds(100)
            try await node.run { url in
                let alice = try await TestNode.client(url, "alice"), carol = try await TestNode.client(url, "carol")
                // Carol is online from before the post: no regular away notice names her. Her first
                // connection's check finds nothing owed; a second device's connection, after the post,
                // schedules the checks this test follows.
                try await carol.withConnection { c in
                    try await eventually("carol's first check found nothing owed") { try await Self.jobs(carol, "done") == 1 }
                    try await alice.withConnection { a in
                        let id = try await a.createDirect(with: "carol").conversation.id
                        _ = try await a.send("unread", to: id)
                        try await eventually("the live entry") { c.receivedEntries.contains { $0.conversation == id } }
                        try await carol.withConnection { _ in
                            try await eventually(timeout: .seconds(20), "four checks, then the dead letter") { try await Self.jobs(alice, "buried") == 1 }
                            try await eventually("the live entry and one copy per check") { c.receivedEntries.filter { $0.conversation == id }.count == 5 }
                            #expect(try await Self.jobs(alice, "retried") == 3)
                            try await eventually("an away notice names carol, though she is connected") {
                                receiver.calls.contains { $0.notice?.conversation.id == id && $0.notice?.recipients.map(\.user) == ["carol"] }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test func theSessionAcknowledgesWhatArrivedAndSeesEachEntryOnce() async throws {
        try await Self.node().run { url in
            let alice = try await TestNode.client(url, "alice")
            let session = ChatSession(nodes: [url], token: try await TestNode.token("dave"))
            try await alice.withConnection { a in
                let id = try await a.createDirect(with: "dave").conversation.id
                for index in 1...5 { _ = try await a.send("m\(index)", to: id) }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await session.run() }
                    try await eventually("the session has 1…5") { session.positions[id] == 5 }
                    // The receipt follows the arrival (CI once read the watermark between the two): wait
                    // for what the session promises, then for the check it ends.
                    try await eventually("the session's receipt moved dave's delivered watermark to 5") {
                        try await a.conversation(id).conversation.participants.first { $0.user == "dave" }?.deliveredSeq == 5
                    }
                    try await eventually("its receipt ended the check") { try await Self.jobs(alice, "done") >= 1 }
                    #expect(session.entries.filter { $0.conversation == id }.map(\.seq) == [1, 2, 3, 4, 5], "each once, in order")
                    group.cancelAll()
                }
            }
        }
    }
}

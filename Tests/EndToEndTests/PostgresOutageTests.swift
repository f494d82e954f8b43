import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing
import TestServers

/// PostgreSQL goes away under load and comes back, while one node keeps running: the node must neither
/// crash nor lose or duplicate anything, and must recover without a restart. Runs on the second
/// throwaway server `make test` starts, which nothing else uses.
@Suite struct PostgresOutageTests {
    struct Outcome: Sendable {
        let client: String
        let seq: Int64?
        let error: ChatError.Code?
    }

    @Test func sendsFailUnavailableDuringAnOutageAndRetriesSucceedAfter() async throws {
        let database = try await TestPostgres.createDatabase(on: OutagePostgres.serverURL())
        let node = TestNode {
            $0.databaseURL = database.url
            $0.databaseTimeout = .seconds(4)
        }
        let senders = 4
        let outcomes = Recorder<Outcome>()
        // Senders go on with new client ids until the database is back and each has sent after it.
        let restarted = Recorder<Bool>()
        try await node.run { url in
            try await TestNode.client(url, "ann").withConnection { socket in
                // Outside the outage, a slow first query on a loaded machine is retried as a client would.
                let id = try await retryingUnavailable { try await socket.createDirect(with: "bob").conversation.id }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for sender in 0..<senders {
                        group.addTask {
                            var index = 0, sentAfterRestart = 0
                            while sentAfterRestart < 10 {
                                let client = "s\(sender)-\(index)"
                                index += 1
                                let afterRestart = restarted.count > 0
                                // The same client id until it is stored, as a client that retries does.
                                while true {
                                    do {
                                        let reply = try await socket.send(client, to: id, clientID: client)
                                        outcomes.record(Outcome(client: client, seq: reply.message.seq, error: nil))
                                        if afterRestart { sentAfterRestart += 1 }
                                        break
                                    } catch let error as ChatError {
                                        outcomes.record(Outcome(client: client, seq: nil, error: error.code))
                                        guard error.code == .unavailable else { throw error }
                                        try await Task.sleep(for: .milliseconds(50))  // a client's backoff, not a wait for a condition
                                    }
                                }
                            }
                        }
                    }
                    try await eventually("sends are under way") { outcomes.all.filter { $0.seq != nil }.count >= 20 }
                    try await OutagePostgres.stop()
                    try await eventually(timeout: .seconds(30), "sends fail while the database is down") {
                        outcomes.all.contains { $0.error != nil }
                    }
                    try await OutagePostgres.start()
                    restarted.record(true)
                    try await group.waitForAll()
                }
                let all = outcomes.all
                #expect(Set(all.compactMap(\.error)) == [.unavailable], "every failure was `unavailable`")
                let stored = all.filter { $0.seq != nil }
                let clients = Set(all.map(\.client))
                #expect(stored.count == clients.count, "every client id was acknowledged exactly once")
                var history: [MessageBody] = []
                while true {
                    let after = history.last?.seq ?? 0
                    let page = try await retryingUnavailable { try await socket.history(id, after: after, limit: 200) }
                    history += page.messages
                    if !page.hasMore { break }
                }
                #expect(history.map(\.seq) == Array(1...Int64(clients.count)), "gap-free, nothing duplicated")
                #expect(Set(history.map(\.content)) == clients, "nothing lost")
                let bySeq = Dictionary(uniqueKeysWithValues: history.map { ($0.seq, $0.content) })
                for outcome in stored {
                    #expect(bySeq[outcome.seq!] == outcome.client, "the ack names the stored seq")
                }
                #expect(!socket.isClosed, "the node kept the client's socket through the outage")
            }
        }
        await database.drop()
    }
}

/// Runs `body` again while it fails with `unavailable` (a client's retry), for up to `timeout`.
func retryingUnavailable<T>(timeout: Duration = .seconds(30), _ body: () async throws -> T) async throws -> T {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while true {
        do {
            return try await body()
        } catch let error as ChatError where error.code == .unavailable && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))  // a client's backoff, not a wait for a condition
        }
    }
}

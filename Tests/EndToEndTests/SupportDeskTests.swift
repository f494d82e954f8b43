import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing

/// The support desk on a real node, through the SDK: the queue, the race to claim, the conversation
/// that follows, close, and a request returning to the queue when its agent vanishes before replying.
@Suite struct SupportDeskTests {
    static let desk = ["agent:acme"]

    @Test func twentyAgentsClaimAtOnceExactlyOneWinsAndTheQueueEmptiesForAll() async throws {
        let node = TestNode()
        try await node.run { url in
            var agents: [ChatClient] = []
            for index in 1...20 { agents.append(try await TestNode.client(url, "agent\(index)", roles: Self.desk)) }
            let customer = try await TestNode.client(url, "cat")
            try await withConnections(agents) { agentSockets in
                try await customer.withConnection { cat in
                    let opened = try await cat.openSupportRequest(in: "acme", subject: "Late order", description: "Where is my order?")
                    #expect(opened.created && opened.request.status == "waiting" && opened.conversation.kind == .support)
                    let id = opened.request.id, conversation = opened.conversation.id
                    for socket in agentSockets {
                        try await eventually("every agent sees the request queued") {
                            socket.supportEvents.contains { $0.type == EventType.supportQueued.rawValue && $0.request.id == id }
                        }
                        #expect(try await socket.supportQueue(of: "acme").map(\.id) == [id])
                    }

                    let replies = try await withThrowingTaskGroup(of: (Int, SupportClaimReply).self) { group in
                        for (index, socket) in agentSockets.enumerated() {
                            group.addTask { (index, try await socket.claimSupportRequest(id)) }
                        }
                        return try await group.reduce(into: []) { $0.append($1) }
                    }
                    let winners = replies.filter { $0.1.outcome == "won" }
                    try #require(winners.count == 1, "exactly one agent wins")
                    let winner = "agent\(winners[0].0 + 1)", winnerSocket = agentSockets[winners[0].0]
                    let losers = replies.filter { $0.1.outcome == "claimed" }
                    #expect(losers.count == 19)
                    #expect(losers.allSatisfy { $0.1.request.agent == winner && $0.1.conversation == nil }, "the others are told who took it")
                    #expect(winners[0].1.conversation?.participants.map(\.user).sorted() == ["cat", winner].sorted())
                    for socket in agentSockets {
                        try await eventually("every agent is told who claimed it") {
                            socket.supportEvents.contains { $0.type == EventType.supportClaimed.rawValue && $0.request.agent == winner }
                        }
                        #expect(try await socket.supportQueue(of: "acme").isEmpty, "the queue is empty for all")
                    }

                    // The claim became a conversation between the customer and the winner.
                    _ = try await winnerSocket.send("On it!", to: conversation)
                    try await eventually("the customer gets the agent's reply") { cat.receivedMessages.contains { $0.content == "On it!" } }
                    #expect(try await winnerSocket.history(conversation).messages.map(\.content) == ["Where is my order?", "On it!"])
                    await #expect(throws: ChatError.conflict("a support conversation's membership follows its request")) {
                        _ = try await winnerSocket.addParticipants(["agent2"], to: conversation)
                    }

                    // Only the agent closes; both see it archived, nothing more can be sent.
                    await #expect(throws: ChatError.forbidden("only an admin or the support agent can close a conversation")) {
                        _ = try await cat.close(conversation)
                    }
                    #expect(try await winnerSocket.close(conversation).conversation.closedAt != nil)
                    await #expect(throws: ChatError.conflict("the conversation is closed")) { _ = try await cat.send("hello?", to: conversation) }
                    #expect(try await cat.conversations().conversations.first { $0.conversation.id == conversation }?.archived == true)
                    #expect(try await winnerSocket.conversations().conversations.first { $0.conversation.id == conversation }?.archived == true)
                    try await eventually("the agents see it closed") {
                        agentSockets[0].supportEvents.contains { $0.type == EventType.supportClosed.rawValue && $0.request.id == id }
                    }
                    #expect(try await cat.openSupportRequest(in: "acme", description: "Another thing").created, "closing freed the customer")
                }
            }
        }
    }

    @Test func onlyAgentsSeeTheQueueAndARepeatedOpenReturnsTheOpenRequest() async throws {
        let node = TestNode()
        try await node.run { url in
            let customer = try await TestNode.client(url, "cat")
            let other = try await TestNode.client(url, "agent9", roles: ["agent:globex"])
            try await customer.withConnection { cat in
                let opened = try await cat.openSupportRequest(in: "acme", description: "Help")
                let again = try await cat.openSupportRequest(in: "acme", description: "Help!!")
                #expect(!again.created && again.request.id == opened.request.id)
                await #expect(throws: ChatError.forbidden("only the workspace's support agents can do this")) {
                    _ = try await cat.supportQueue(of: "acme")
                }
                try await other.withConnection { agent in
                    await #expect(throws: ChatError.notFound("no such support request")) { _ = try await agent.claimSupportRequest(opened.request.id) }
                    let queue = try await agent.supportQueue(of: "globex")
                    #expect(queue.isEmpty)
                }
                let (status, body) = try await customer.call("POST", "/v1/support/requests", body: SupportOpenRequest(workspace: "acme", content: "Help"))
                #expect(status == 200, "not created: the open request is returned")
                #expect(String(decoding: body, as: UTF8.self).contains(opened.request.id))
            }
        }
    }

    @Test func aClaimWithNoReplyReturnsToTheQueueWhenItsAgentGoesAway() async throws {
        let node = TestNode { $0.supportRequeueAfter = .milliseconds(300) }
        try await node.run { url in
            let leaving = try await TestNode.client(url, "agent1", roles: Self.desk)
            let watching = try await TestNode.client(url, "agent2", roles: Self.desk)
            let cat = try await TestNode.client(url, "cat"), dan = try await TestNode.client(url, "dan")
            let quiet = try await cat.withConnection { try await $0.openSupportRequest(in: "acme", description: "Nobody answers") }
            let answered = try await dan.withConnection { try await $0.openSupportRequest(in: "acme", description: "Thanks") }
            try await watching.withConnection { watcher in
                try await leaving.withConnection { agent in
                    #expect(try await agent.claimSupportRequest(quiet.request.id).outcome == "won")
                    #expect(try await agent.claimSupportRequest(answered.request.id).outcome == "won")
                    _ = try await agent.send("Glad to help", to: answered.conversation.id)
                }
                // The agent's last connection is gone: after support.requeue.ms the unanswered request is back.
                try await eventually("the unanswered request is queued again") {
                    try await watcher.supportQueue(of: "acme").map(\.id) == [quiet.request.id]
                }
                // The desk event is published after the store's change: it may reach the socket after the read above.
                try await eventually("the watcher is told it is queued again") {
                    watcher.supportEvents.last?.type == EventType.supportQueued.rawValue && watcher.supportEvents.last?.request.id == quiet.request.id
                }
                let taken = try await watcher.claimSupportRequest(answered.request.id)
                #expect(taken.outcome == "claimed" && taken.request.agent == "agent1", "the answered request stays with its agent")
                let won = try await watcher.claimSupportRequest(quiet.request.id)
                #expect(won.outcome == "won")
                #expect(won.conversation?.participants.map(\.user).sorted() == ["agent2", "cat"], "the first agent left the conversation")
            }
        }
    }
}

/// Opens a connection for each client (nested), runs `body` with all of them, then closes them.
func withConnections<T: Sendable>(_ clients: [ChatClient], _ body: @Sendable ([ChatConnection]) async throws -> T) async throws -> T {
    try await withConnections(clients[...], opened: [], body)
}

private func withConnections<T: Sendable>(
    _ clients: ArraySlice<ChatClient>, opened: [ChatConnection], _ body: @Sendable ([ChatConnection]) async throws -> T
) async throws -> T {
    guard let first = clients.first else { return try await body(opened) }
    return try await first.withConnection { connection in
        try await withConnections(clients.dropFirst(), opened: opened + [connection], body)
    }
}

import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing

/// A real node over real WebSocket and HTTP connections, through the SDK.
@Suite struct ChatEndToEndTests {
    @Test func twoUsersChatInADirectConversation() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            try await bob.withConnection { bobSocket in
                try await alice.withConnection { aliceSocket in
                    let direct = try await aliceSocket.createDirect(with: "bob")
                    #expect(direct.created == true)
                    #expect(direct.conversation.kind == .direct)
                    let again = try await bobSocket.createDirect(with: "alice")
                    #expect(again.created == false && again.conversation.id == direct.conversation.id)
                    let sent = try await aliceSocket.send("hello bob", to: direct.conversation.id)
                    #expect(sent.message.seq == 1 && !sent.duplicate)
                    try await waitForMessages(bobSocket, ["hello bob"])
                    _ = try await bobSocket.send("hi alice", to: direct.conversation.id)
                    try await waitForMessages(aliceSocket, ["hello bob", "hi alice"])
                    let viaREST = try await bob.rest(
                        "GET", "/v1/conversations/\(direct.conversation.id)/messages", as: HistoryReply.self)
                    #expect(viaREST.messages.map(\.content) == ["hello bob", "hi alice"])
                    let list = try await bob.rest("GET", "/v1/conversations", as: ConversationListReply.self)
                    #expect(list.conversations.first?.lastMessage?.content == "hi alice")
                }
            }
        }
    }

    @Test func groupRolesGuardMembership() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            let carol = try await TestNode.client(url, "carol"), dave = try await TestNode.client(url, "dave")
            try await carol.withConnection { carolSocket in
                let group = try await alice.rest(
                    "POST", "/v1/conversations/group", body: CreateGroupRequest(title: "Project", participants: ["bob", "carol"]),
                    as: ConversationReply.self)
                let id = group.conversation.id
                #expect(group.conversation.participants.first { $0.user == "alice" }?.role == .admin)
                await #expect(throws: ChatError.forbidden("only an admin can change participants")) {
                    _ = try await bob.rest(
                        "POST", "/v1/conversations/\(id)/participants", body: AddParticipantsRequest(users: ["dave"]), as: ConversationReply.self)
                }
                try await bob.withConnection { bobSocket in
                    await #expect(throws: ChatError.self) { _ = try await bobSocket.addParticipants(["dave"], to: id) }
                    _ = try await bobSocket.send("from bob", to: id)
                }
                try await waitForMessages(carolSocket, ["from bob"])
                try await dave.withConnection { daveSocket in
                    try await alice.withConnection { aliceSocket in
                        let added = try await aliceSocket.addParticipants(["dave"], to: id)
                        #expect(added.conversation.participants.count == 4)
                        try await eventually("dave is told he joined") {
                            daveSocket.events.contains { $0.type == EventType.conversationJoined.rawValue }
                        }
                        _ = try await aliceSocket.send("welcome dave", to: id)
                        try await waitForMessages(daveSocket, ["welcome dave"])
                        try await waitForMessages(carolSocket, ["from bob", "welcome dave"])
                        let promoted = try await aliceSocket.setRole(.moderator, of: "carol", in: id)
                        #expect(promoted.conversation.participants.first { $0.user == "carol" }?.role == .moderator)
                        _ = try await aliceSocket.removeParticipant("dave", from: id)
                        try await eventually("dave is told he left") {
                            daveSocket.events.contains { $0.type == EventType.conversationLeft.rawValue }
                        }
                        await #expect(throws: ChatError.notFound("no such conversation")) { _ = try await daveSocket.history(id) }
                    }
                }
            }
        }
    }

    @Test func everyDeviceOfAUserGetsEveryMessage() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            try await bob.withConnection(auth: .header) { phone in
                try await bob.withConnection(auth: .query) { laptop in
                    try await alice.withConnection(auth: .frame) { aliceSocket in
                        let direct = try await aliceSocket.createDirect(with: "bob")
                        let texts = (1...20).map { "m\($0)" }
                        for text in texts { _ = try await aliceSocket.send(text, to: direct.conversation.id) }
                        try await waitForMessages(phone, texts)
                        try await waitForMessages(laptop, texts)
                        #expect(phone.receivedMessages.map(\.seq) == Array(1...20))
                    }
                }
            }
        }
    }

    @Test func aRetriedSendStoresOneMessage() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice")
            try await alice.withConnection { socket in
                let direct = try await socket.createDirect(with: "bob")
                let first = try await socket.send("once", to: direct.conversation.id, clientID: "retry-1")
                let second = try await socket.send("once", to: direct.conversation.id, clientID: "retry-1")
                #expect(!first.duplicate && second.duplicate)
                #expect(first.message == second.message)
                let (status, _) = try await alice.call(
                    "POST", "/v1/conversations/\(direct.conversation.id)/messages", body: SendRequest(clientID: "retry-1", content: "once"))
                #expect(status == 200, "a REST retry answers 200 with the stored message, not 201")
                let history = try await socket.history(direct.conversation.id)
                #expect(history.messages.count == 1)
            }
        }
    }

    @Test func historyPagesAreExact() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice")
            try await alice.withConnection { socket in
                let id = try await socket.createDirect(with: "bob").conversation.id
                for index in 1...25 { _ = try await socket.send("\(index)", to: id) }
                let newest = try await socket.history(id, limit: 10)
                #expect(newest.messages.map(\.seq) == Array(16...25) && newest.hasMore)
                let middle = try await socket.history(id, before: 16, limit: 10)
                #expect(middle.messages.map(\.seq) == Array(6...15) && middle.hasMore)
                let oldest = try await socket.history(id, before: 6, limit: 10)
                #expect(oldest.messages.map(\.seq) == Array(1...5) && !oldest.hasMore)
                let forward = try await alice.rest("GET", "/v1/conversations/\(id)/messages?after=20&limit=10", as: HistoryReply.self)
                #expect(forward.messages.map(\.seq) == Array(21...25) && !forward.hasMore)
                await #expect(throws: ChatError.validation("limit must be between 1 and 200")) { _ = try await socket.history(id, limit: 500) }
            }
        }
    }

    @Test func aNonParticipantLearnsNothing() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), eve = try await TestNode.client(url, "eve")
            try await alice.withConnection { socket in
                let id = try await socket.createDirect(with: "bob").conversation.id
                _ = try await socket.send("secret", to: id)
                try await eve.withConnection { eveSocket in
                    let missing = ChatError.notFound("no such conversation")
                    await #expect(throws: missing) { _ = try await eveSocket.history(id) }
                    await #expect(throws: missing) { _ = try await eveSocket.send("let me in", to: id) }
                    await #expect(throws: missing) { _ = try await eveSocket.conversation(id) }
                    await #expect(throws: missing) { _ = try await eveSocket.conversation("c_doesnotexist") }
                    #expect(eveSocket.receivedMessages.isEmpty)
                }
                let (status, body) = try await eve.call("GET", "/v1/conversations/\(id)/messages")
                #expect(status == 404)
                #expect(String(decoding: body, as: UTF8.self).contains("\"not_found\""))
                #expect(try await socket.history(id).messages.map(\.content) == ["secret"])
            }
        }
    }
}

import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing

/// Receipts, presence, typing, resume, edits, reactions, archive and close on a real node, through the SDK.
@Suite struct LiveChatTests {
    @Test func receiptsReachTheSenderAndTheReadersOtherDevice() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            try await alice.withConnection { aliceSocket in
                let id = try await aliceSocket.createDirect(with: "bob").conversation.id
                for text in ["one", "two", "three"] { _ = try await aliceSocket.send(text, to: id) }
                try await bob.withConnection { phone in
                    try await bob.withConnection { laptop in
                        let unread = try await laptop.conversations().conversations.first { $0.conversation.id == id }
                        #expect(unread?.unread == 3)
                        let marked = try await phone.mark(id, read: 2)
                        #expect(marked.readSeq == 2 && marked.deliveredSeq == 2)
                        for socket in [aliceSocket, laptop] {
                            try await eventually("the receipt reaches \(socket === aliceSocket ? "the sender" : "bob's other device")") {
                                socket.events.contains { frame in
                                    frame.type == EventType.receipt.rawValue
                                        && (try? frame.payload(ReceiptBody.self)) == ReceiptBody(conversation: id, user: "bob", deliveredSeq: 2, readSeq: 2)
                                }
                            }
                        }
                        let list = try await laptop.conversations().conversations.first { $0.conversation.id == id }
                        #expect(list?.unread == 1)
                        let seen = try await aliceSocket.conversation(id).conversation.participants.first { $0.user == "bob" }
                        #expect(seen?.readSeq == 2)
                        let stale = try await bob.rest("POST", "/v1/conversations/\(id)/receipts", body: ReceiptRequest(read: 1), as: ReceiptBody.self)
                        #expect(stale.readSeq == 2, "a watermark never moves backwards")
                        _ = try await bob.rest("POST", "/v1/conversations/\(id)/receipts", body: ReceiptRequest(read: 3), as: ReceiptBody.self)
                        let cleared = try await laptop.conversations().conversations.first { $0.conversation.id == id }
                        #expect(cleared?.unread == 0)
                    }
                }
            }
        }
    }

    @Test func presenceFollowsTheLastDeviceAndKeepsLastSeen() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            try await alice.withConnection { aliceSocket in
                _ = try await aliceSocket.createDirect(with: "bob")
                try await bob.withConnection { phone in
                    try await eventually("alice sees bob online") { aliceSocket.presenceEvents.contains { $0.user == "bob" && $0.online } }
                    try await bob.withConnection { laptop in
                        let status = try await laptop.presence(of: ["bob", "alice"])
                        #expect(status.map(\.online) == [true, true])
                    }
                    let stillOnline = try await phone.presence(of: ["bob"])
                    #expect(stillOnline.first?.online == true, "one device left: still online")
                }
                try await eventually("alice sees bob offline") { aliceSocket.presenceEvents.contains { $0.user == "bob" && !$0.online } }
                let events = aliceSocket.presenceEvents.filter { $0.user == "bob" }
                #expect(events.map(\.online) == [true, false], "one online and one offline event for two devices")
                #expect(events.last?.lastSeen != nil)
                let queried = try await aliceSocket.presence(of: ["bob", "stranger"])
                #expect(queried[0].online == false && queried[0].lastSeen == events.last?.lastSeen)
                #expect(queried[1] == PresenceBody(user: "stranger", online: false, lastSeen: nil), "strangers read as unknown")
                let rest = try await alice.rest("GET", "/v1/presence?users=bob", as: PresenceReply.self)
                #expect(rest.users.first?.online == false)
            }
        }
    }

    @Test func typingReachesTheOthersOnceAndExpires() async throws {
        let node = TestNode { $0.typingExpiry = .milliseconds(300) }
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            let carol = try await TestNode.client(url, "carol")
            try await bob.withConnection { bobSocket in
                try await carol.withConnection { carolSocket in
                    try await alice.withConnection { aliceSocket in
                        let id = try await aliceSocket.createGroup(title: "Team", participants: ["bob", "carol"]).conversation.id
                        // Typing is never stored: a signal sent before the node has joined bob and carol to
                        // the new group (asynchronously) is gone. A first post that reached them proves the join.
                        _ = try await aliceSocket.send("hello", to: id)
                        for socket in [bobSocket, carolSocket] { try await waitForMessages(socket, ["hello"]) }
                        try await aliceSocket.typing(in: id)
                        try await aliceSocket.typing(in: id)
                        _ = try await aliceSocket.send("done typing", to: id)
                        for socket in [bobSocket, carolSocket] {
                            try await waitForMessages(socket, ["hello", "done typing"])
                            // Typing and the message cross the same channel in order: by now every typing event is in.
                            #expect(socket.events.filter { $0.type == EventType.typing.rawValue }.count == 1, "the second signal was throttled")
                        }
                        let typing = try #require(bobSocket.events.first { $0.type == EventType.typing.rawValue })
                        #expect(try typing.payload(TypingEvent.self) == TypingEvent(conversation: id, user: "alice", expiresInMs: 300))
                        #expect(!aliceSocket.events.contains { $0.type == EventType.typing.rawValue }, "the typist gets no echo")
                        try await eventually("bob's view of alice typing expires") { bobSocket.typingUsers(in: id).isEmpty }
                    }
                }
            }
        }
    }

    @Test func aClientThatWasAwayGetsExactlyWhatItMissedOnceAndInOrder() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            try await alice.withConnection { aliceSocket in
                let id = try await aliceSocket.createDirect(with: "bob").conversation.id
                let positions = try await bob.withConnection { bobSocket in
                    _ = try await aliceSocket.send("before", to: id)
                    try await waitForMessages(bobSocket, ["before"])
                    return bobSocket.positions
                }
                #expect(positions == [id: 1])
                for index in 1...100 { _ = try await aliceSocket.send("missed \(index)", to: id) }
                _ = try await aliceSocket.edit(2, in: id, to: "missed 1, edited")
                _ = try await aliceSocket.delete(3, in: id)
                try await bob.withConnection(resume: positions) { bobSocket in
                    try await eventually("bob catches up to seq 103") { bobSocket.positions[id] == 103 }
                    _ = try await aliceSocket.send("live again", to: id)
                    try await eventually("the live message follows") { bobSocket.positions[id] == 104 }
                    let entries = bobSocket.receivedEntries
                    #expect(entries.map(\.seq) == Array(2...104), "every missed entry once, in order, then live")
                    #expect(entries.filter { $0.action == "post" }.count == 101)
                    #expect(entries[100].action == "edit" && entries[100].target == 2, "seq 102")
                    #expect(entries[101].action == "delete" && entries[101].target == 3, "seq 103")
                    #expect(entries[0].content == "missed 1, edited", "a replayed post reads as it is now")
                }
            }
        }
    }

    @Test func onConnectEntriesPastTheDeliveredWatermarkArePushed() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            try await alice.withConnection { aliceSocket in
                let id = try await aliceSocket.createDirect(with: "bob").conversation.id
                _ = try await aliceSocket.send("first", to: id)
                _ = try await aliceSocket.send("second", to: id)
                try await bob.withConnection { bobSocket in
                    try await waitForMessages(bobSocket, ["first", "second"])
                    _ = try await bobSocket.mark(id, delivered: 2)
                }
                _ = try await aliceSocket.send("third", to: id)
                try await bob.withConnection { bobSocket in
                    try await waitForMessages(bobSocket, ["third"])
                    _ = try await aliceSocket.send("fourth", to: id)
                    try await waitForMessages(bobSocket, ["third", "fourth"])
                }
            }
        }
    }

    @Test func editsDeletionsAndReactions() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            let carol = try await TestNode.client(url, "carol")
            try await bob.withConnection { bobSocket in
                try await alice.withConnection { aliceSocket in
                    let id = try await aliceSocket.createGroup(title: "Team", participants: ["bob", "carol"]).conversation.id
                    _ = try await aliceSocket.setRole(.moderator, of: "carol", in: id)
                    _ = try await aliceSocket.send("hello", to: id)
                    _ = try await bobSocket.send("bob's", to: id)
                    #expect(try await aliceSocket.conversation(id).lastMessage?.content == "bob's", "the newest post is the preview")
                    let reaction = try await bobSocket.react("👍", to: 1, in: id)
                    #expect(reaction.message.seq == 3 && reaction.message.action == "react")
                    try await eventually("alice sees the reaction") {
                        aliceSocket.receivedEntries.contains { $0.action == "react" && $0.target == 1 && $0.emoji == "👍" && $0.sender == "bob" }
                    }
                    var post = try await aliceSocket.history(id, before: 2).messages.first
                    #expect(post?.reactions == [ReactionBody(Reaction(emoji: "👍", users: [UserID("bob")!]))])
                    _ = try await bobSocket.unreact("👍", from: 1, in: id)
                    post = try await aliceSocket.history(id, before: 2).messages.first
                    #expect(post?.reactions == nil)
                    await #expect(throws: ChatError.forbidden("only the sender can edit a message")) {
                        _ = try await bobSocket.edit(1, in: id, to: "not mine")
                    }
                    await #expect(throws: ChatError.forbidden("only the sender, an admin or a moderator can delete a message")) {
                        _ = try await bobSocket.delete(1, in: id)
                    }
                    let edited = try await alice.rest(
                        "PATCH", "/v1/conversations/\(id)/messages/1", body: EditRequest(content: "hello, edited"), as: SendReply.self)
                    #expect(edited.message.action == "edit")
                    let byModerator = try await carol.rest("DELETE", "/v1/conversations/\(id)/messages/2?client_id=del-2", as: SendReply.self)
                    #expect(byModerator.message.action == "delete" && byModerator.message.target == 2)
                    let retried = try await carol.rest("DELETE", "/v1/conversations/\(id)/messages/2?client_id=del-2", as: SendReply.self)
                    #expect(retried.duplicate && retried.message == byModerator.message, "a retried delete returns the first result")
                    await #expect(throws: ChatError.notFound("no such message"), "a new delete of a tombstone") {
                        _ = try await carol.rest("DELETE", "/v1/conversations/\(id)/messages/2?client_id=del-3", as: SendReply.self)
                    }
                    try await eventually("bob sees the edit and the deletion") {
                        bobSocket.events.contains { $0.type == EventType.messageEdited.rawValue }
                            && bobSocket.events.contains { $0.type == EventType.messageDeleted.rawValue }
                    }
                    let history = try await aliceSocket.history(id).messages
                    #expect(history[0].content == "hello, edited" && history[0].editedAt != nil)
                    #expect(history[1].deletedAt != nil && history[1].content.isEmpty, "a tombstone")
                    await #expect(throws: ChatError.notFound("no such message")) { _ = try await bobSocket.react("🎉", to: 2, in: id) }
                    let preview = try await carol.rest("GET", "/v1/conversations/\(id)", as: ConversationReply.self).lastMessage
                    #expect(preview?.seq == 2 && preview?.deletedAt != nil, "a deleted newest post previews as a tombstone")
                    let third = try await aliceSocket.send("third", to: id).message.seq
                    #expect(try await bobSocket.conversation(id).lastMessage?.seq == third)
                    _ = try await aliceSocket.edit(third, in: id, to: "third, edited")
                    #expect(try await bobSocket.conversation(id).lastMessage?.content == "third, edited", "an edit of the newest post shows at once")
                }
            }
        }
    }

    @Test func archiveUnarchiveAndClose() async throws {
        let node = TestNode()
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            try await bob.withConnection { bobSocket in
                try await alice.withConnection { aliceSocket in
                    let id = try await aliceSocket.createGroup(title: "Team", participants: ["bob"]).conversation.id
                    func archived(_ socket: ChatConnection) async throws -> Bool? {
                        try await socket.conversations().conversations.first { $0.conversation.id == id }?.archived
                    }
                    try await bobSocket.archive(id)
                    #expect(try await archived(bobSocket) == true)
                    #expect(try await archived(aliceSocket) == false, "archive is for the caller alone")
                    _ = try await aliceSocket.send("news", to: id)
                    #expect(try await archived(bobSocket) == false, "a new message un-archives")
                    try await bobSocket.archive(id)
                    try await bobSocket.unarchive(id)
                    #expect(try await archived(bobSocket) == false)
                    await #expect(throws: ChatError.forbidden("only an admin or the support agent can close a conversation")) { _ = try await bobSocket.close(id) }
                    let closed = try await aliceSocket.close(id)
                    #expect(closed.conversation.closedAt != nil)
                    try await eventually("bob is told it closed") {
                        bobSocket.events.contains { frame in
                            frame.type == EventType.conversationUpdated.rawValue
                                && (try? frame.payload(ConversationReply.self))?.conversation.closedAt != nil
                        }
                    }
                    await #expect(throws: ChatError.conflict("the conversation is closed")) { _ = try await bobSocket.send("too late", to: id) }
                    let bobSees = try await archived(bobSocket), aliceSees = try await archived(aliceSocket)
                    #expect(bobSees == true && aliceSees == true, "both sides see it archived")
                    await #expect(throws: ChatError.conflict("the conversation is closed")) { try await bobSocket.unarchive(id) }
                    #expect(try await archived(bobSocket) == true, "a closed conversation stays archived")
                    #expect(try await aliceSocket.history(id).messages.map(\.content) == ["news"])
                }
            }
        }
    }
}

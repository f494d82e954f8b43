import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing

/// Bad input gets its documented answer, the connection stays usable, and nothing stored is lost.
@Suite struct ProtocolErrorTests {
    /// The error frames received without a request id, decoded.
    static func errors(_ connection: ChatConnection) -> [ErrorBody] {
        connection.events.filter { $0.type == "error" }.compactMap { try? $0.payload(ErrorBody.self) }
    }

    @Test func badFramesGetErrorsAndTheConnectionStaysUsable() async throws {
        let node = TestNode { $0.limits.maxFrameBytes = 2048 }
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice")
            try await alice.withConnection { socket in
                let id = try await socket.createDirect(with: "bob").conversation.id
                _ = try await socket.send("kept", to: id)
                try await socket.sendRaw("{not json")
                try await socket.sendRaw(String(repeating: "x", count: 5000))
                try await eventually("two errors") { Self.errors(socket).count == 2 }
                #expect(Self.errors(socket).allSatisfy { $0.code == "validation" })
                #expect(Self.errors(socket)[1].message.contains("exceeds the limit"))
                try await socket.sendRaw(#"{"type":"message.explode","id":"x1"}"#)
                try await socket.sendRaw(#"{"type":"message.send","id":"x2","payload":{"conversation":"\#(id)"}}"#)
                try await eventually("errors naming the requests") {
                    socket.events.contains { $0.re == "x1" } && socket.events.contains { $0.re == "x2" }
                }
                let named = socket.events.filter { $0.re != nil }.compactMap { try? $0.payload(ErrorBody.self) }
                #expect(named.map(\.message) == ["unknown frame type 'message.explode'", "missing field 'content'"])
                await #expect(throws: ChatError.validation("missing field 'content'")) {
                    _ = try await socket.request(.send, ["conversation": id])
                }
                await #expect(throws: ChatError.validation("clients cannot send system messages")) {
                    _ = try await socket.send("forged", to: id, kind: .system)
                }
                await #expect(throws: ChatError.validation("content is larger than 16384 bytes")) {
                    _ = try await alice.rest(
                        "POST", "/v1/conversations/\(id)/messages", body: SendRequest(clientID: "big", content: String(repeating: "y", count: 17000)),
                        as: SendReply.self)
                }
                _ = try await socket.request(.ping, EmptyReply())
                let after = try await socket.send("still here", to: id)
                #expect(after.message.seq == 2)
                #expect(try await socket.history(id).messages.map(\.content) == ["kept", "still here"])
            }
        }
    }

    /// U+0000 in any stored text field is refused with `validation` before anything is stored, on
    /// both stores (this suite runs again on PostgreSQL), over WebSocket and REST alike; other text is
    /// kept exactly.
    @Test func textNoStoreCanKeepIsRefusedEverywhere() async throws {
        try await TestNode().run { url in
            let alice = try await TestNode.client(url, "alice", roles: ["agent:acme"])
            try await alice.withConnection { socket in
                let id = try await socket.createGroup(title: "Team", participants: ["bob"]).conversation.id
                let refused = { (field: String) in ChatError.validation("'\(field)' contains U+0000, which cannot be stored") }
                await #expect(throws: refused("content")) { _ = try await socket.send("a\u{0}b", to: id) }
                await #expect(throws: refused("content")) { _ = try await socket.send("\u{0}lead", to: id) }
                await #expect(throws: refused("metadata")) { _ = try await socket.send("m", to: id, metadata: .object(["k": .string("v\u{0}")])) }
                await #expect(throws: refused("content")) {
                    _ = try await alice.rest("POST", "/v1/conversations/\(id)/messages", body: SendRequest(clientID: "r1", content: "x\u{0}"), as: SendReply.self)
                }
                await #expect(throws: refused("title")) { _ = try await socket.createGroup(title: "T\u{0}", participants: ["bob"]) }
                await #expect(throws: refused("subject")) { _ = try await socket.openSupportRequest(in: "acme", subject: "s\u{0}", description: "help") }
                let kept = "tab\t\u{1}é🧪"
                let post = try await socket.send(kept, to: id, metadata: .object(["ctl\u{1f}": .string(kept)]))
                await #expect(throws: refused("content")) { _ = try await socket.edit(post.message.seq, in: id, to: "e\u{0}") }
                await #expect(throws: ChatError.self) { _ = try await socket.react("\u{0}", to: post.message.seq, in: id) }
                // Nothing refused was stored; what was kept reads back exactly, over WebSocket and REST.
                let history = try await socket.history(id).messages
                #expect(history.map(\.content) == [kept] && history.first?.metadata == .object(["ctl\u{1f}": .string(kept)]))
                let viaREST = try await alice.rest("GET", "/v1/conversations/\(id)/messages", as: HistoryReply.self).messages
                #expect(viaREST.map(\.content) == [kept])
            }
        }
    }

    /// Every request whose id could be read gets its one reply naming it, with the id as it was sent.
    @Test func repliesNameTheRequestIDAsSent() async throws {
        try await TestNode().run { url in
            let alice = try await TestNode.client(url, "alice")
            try await alice.withConnection { socket in
                try await socket.sendRaw(#"{"type":5,"id":"n2"}"#)
                try await socket.sendRaw(#"{"type":"ping","id":77}"#)
                try await socket.sendRaw(#"{"type":"ping","id":"77"}"#)
                try await eventually("three replies") { socket.events.filter { $0.re != nil }.count == 3 }
                let replies = socket.events.filter { $0.re != nil }
                #expect(replies.first { $0.re == "n2" }.flatMap { try? $0.payload(ErrorBody.self) } == ErrorBody(code: "validation", message: "field 'type' has the wrong type"))
                #expect(replies.contains { $0.re == .number(77) && $0.type == "ack" })
                #expect(replies.contains { $0.re == .text("77") && $0.type == "ack" })
                let raw = replies.map { String(decoding: $0.bytes, as: UTF8.self) }
                #expect(raw.contains { $0.contains(#""re":77"#) && !$0.contains(#""re":"77""#) }, "a number id comes back as a number")
            }
        }
    }

    @Test func badAndExpiredTokensAreClosedWithTheirCode() async throws {
        let node = TestNode()
        try await node.run { url in
            let forged = ChatClient(baseURL: url, token: try await TestNode.token("mallory", secret: "another-secret-that-is-also-32-bytes-long"))
            let expired = ChatClient(baseURL: url, token: try await TestNode.token("alice", expiresIn: -60))
            let port = try #require(URLComponents(string: url)?.port)
            for (client, reason) in [(forged, "the token is not valid"), (expired, "the token has expired")] {
                // In the upgrade request (header or query): checked on raw sockets, because a client library
                // may drop frames that arrive in the same packet as the 101 (see TokenTransport).
                for headers in [["Authorization": "Bearer \(client.token)"], [:]] {
                    let path = headers.isEmpty ? "/v1/ws?token=\(client.token)" : "/v1/ws"
                    let reply = try await RawWebSocket.upgrade(port: port, path: path, headers: headers)
                    #expect(reply.status.contains("101"))
                    #expect(reply.texts.count == 1 && reply.texts[0].contains("\"unauthorized\"") && reply.texts[0].contains(reason))
                    #expect(reply.closeCode == Int(CloseCode.unauthorized.rawValue))
                }
                // In an auth frame, through the SDK.
                try await client.withConnection(auth: .none) { socket in
                    try await socket.sendRaw(#"{"type":"auth","id":"a","payload":{"token":"\#(client.token)"}}"#)
                    try await eventually("closed with 4501") { socket.closeCode == Int(CloseCode.unauthorized.rawValue) }
                }
                let (status, body) = try await client.call("GET", "/v1/conversations")
                #expect(status == 401)
                #expect(String(decoding: body, as: UTF8.self).contains("unauthorized"))
            }
            let garbage = ChatClient(baseURL: url, token: "not-a-jwt")
            try await garbage.withConnection(auth: .none) { socket in
                try await socket.sendRaw(#"{"type":"message.history","id":"early","payload":{"conversation":"c_x"}}"#)
                try await eventually("an unauthorized reply") { socket.events.contains { $0.re == "early" } }
                try await socket.sendRaw(#"{"type":"auth","payload":{"token":"not-a-jwt"}}"#)
                try await eventually("closed with 4501") { socket.closeCode == 4501 }
            }
        }
    }

    @Test func aClientThatNeverAuthenticatesIsClosedAtTheDeadline() async throws {
        let node = TestNode { $0.limits.authDeadline = .milliseconds(300) }
        try await node.run { url in
            let client = try await TestNode.client(url, "slowpoke")
            try await client.withConnection(auth: .none) { socket in
                try await eventually("closed with 4001") { socket.closeCode == Int(CloseCode.authTimeout.rawValue) }
            }
        }
    }

    @Test func aConnectionIsClosedWhenItsTokenExpiresAndAuthenticatedInTimeIsNotClosedAtTheDeadline() async throws {
        // The node's clock stands still one second before the token's expiry, however long the connect
        // and auth take: the token is valid at auth, and its expiry timer fires one second later, after
        // the auth deadline would have. The token comes with the upgrade request, so the connection is
        // authenticated before its deadline however loaded the machine (an auth frame could reach a
        // busy node after 300 ms: CI saw it).
        let expiry = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 3600).rounded(.down))
        var node = TestNode { $0.limits.authDeadline = .milliseconds(300) }
        node.clock = ManualClock(start: Timestamp(milliseconds: Int64(expiry.timeIntervalSince1970) * 1000 - 1000))
        try await node.run { url in
            let client = ChatClient(baseURL: url, token: try await TestNode.token("brief", expires: expiry))
            try await client.withConnection(auth: .header) { socket in
                try await eventually("a token expired error") { Self.errors(socket).contains { $0.message == "token expired" } }
                try await eventually("closed with 4501") { socket.closeCode == Int(CloseCode.unauthorized.rawValue) }
                #expect(Self.errors(socket).map(\.message) == ["token expired"], "the auth deadline passed harmlessly")
            }
        }
    }

    @Test func aTokenPastItsExpiryOnTheNodesClockIsRefused() async throws {
        let expiry = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 + 3600).rounded(.down))
        var node = TestNode()
        node.clock = ManualClock(start: Timestamp(milliseconds: Int64(expiry.timeIntervalSince1970) * 1000))
        try await node.run { url in
            // Valid by the system's clock for another hour, expired by the node's.
            let client = ChatClient(baseURL: url, token: try await TestNode.token("late", expires: expiry))
            let (status, body) = try await client.call("GET", "/v1/conversations")
            #expect(status == 401)
            #expect(String(decoding: body, as: UTF8.self).contains("the token has expired"))
        }
    }

    @Test func everythingSurvivesARestart() async throws {
        let node = TestNode()
        let id = try await node.run(keepingData: true) { url in
            let alice = try await TestNode.client(url, "alice")
            return try await alice.withConnection { socket in
                let group = try await socket.createGroup(title: "Durable", participants: ["bob", "carol"])
                for index in 1...10 { _ = try await socket.send("before restart \(index)", to: group.conversation.id) }
                return group.conversation.id
            }
        }
        try await node.run { url in
            let bob = try await TestNode.client(url, "bob")
            try await bob.withConnection { socket in
                let conversation = try await socket.conversation(id)
                #expect(conversation.conversation.title == "Durable")
                #expect(conversation.conversation.lastSeq == 10)
                let history = try await socket.history(id)
                #expect(history.messages.map(\.content) == (1...10).map { "before restart \($0)" })
                let next = try await socket.send("after restart", to: id)
                #expect(next.message.seq == 11)
                let list = try await socket.conversations()
                #expect(list.conversations.map(\.conversation.id) == [id])
            }
        }
    }
}

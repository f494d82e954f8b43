import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing

/// The live-chat limits crossed: message rate, connections per user, the ping timeout.
@Suite struct LiveLimitsTests {
    @Test func sendingFasterThanTheRateIsRefusedAndStoresNothing() async throws {
        let node = TestNode {
            $0.limits.messagesPerSecond = 0.001
            $0.limits.messageBurst = 3
        }
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice")
            try await alice.withConnection { socket in
                let id = try await socket.createDirect(with: "bob").conversation.id
                for index in 1...3 { _ = try await socket.send("burst \(index)", to: id) }
                await #expect(throws: ChatError.rateLimited("more than 3 messages at once or 0 per second; retry later")) {
                    _ = try await socket.send("one too many", to: id)
                }
                await #expect(throws: ChatError.self) { _ = try await socket.react("👍", to: 1, in: id) }
                let (status, body) = try await alice.call(
                    "POST", "/v1/conversations/\(id)/messages", body: SendRequest(clientID: "rest", content: "also too many"))
                #expect(status == 429)
                #expect(String(decoding: body, as: UTF8.self).contains("\"rate_limited\""))
                #expect(try await socket.history(id).messages.map(\.content) == ["burst 1", "burst 2", "burst 3"])
            }
        }
    }

    @Test func oneConnectionTooManyIsClosedWith4003() async throws {
        let node = TestNode { $0.limits.connectionsPerUser = 2 }
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice")
            try await alice.withConnection { _ in
                try await alice.withConnection { _ in
                    await #expect(throws: ChatError.rateLimited("at most 2 connections per user on one node")) {
                        try await alice.withConnection { _ in }
                    }
                    let port = Int(url.split(separator: ":").last!)!
                    let reply = try await RawWebSocket.upgrade(
                        port: port, path: "/v1/ws", headers: ["Authorization": "Bearer \(try await TestNode.token("alice"))"])
                    #expect(reply.closeCode == Int(CloseCode.tooManyConnections.rawValue))
                    #expect(reply.texts.first?.contains("\"rate_limited\"") == true)
                }
                // Below the limit again: a new connection is accepted.
                try await alice.withConnection { socket in _ = try await socket.conversations() }
            }
        }
    }

    @Test func aClientThatLeavesPingsUnansweredIsClosedWith1001() async throws {
        let node = TestNode { $0.server.pingInterval = .milliseconds(200) }
        try await node.run { url in
            let port = Int(url.split(separator: ":").last!)!
            // The raw socket reads but never answers a ping; the SDK's client answers them and stays.
            let reply = try await RawWebSocket.upgrade(
                port: port, path: "/v1/ws", headers: ["Authorization": "Bearer \(try await TestNode.token("bob"))"])
            #expect(reply.frames.contains { $0.opcode == 0x9 }, "the node pinged")
            #expect(reply.closeCode == 1001)
        }
    }

    /// A client that answers every ping is never pinged out. The node pings only when it heard the
    /// client since its last ping (otherwise it closes), so a third ping is the node judging twice that
    /// the pong came: the test waits for that event, not for a stretch of time. The socket sends no
    /// token and the auth deadline is far away, so only the pings could close it. The interval stays
    /// roomy: the test's reading thread, not the node, is what a loaded CI may stall.
    @Test func aClientThatAnswersPingsStays() async throws {
        let node = TestNode {
            $0.server.pingInterval = .seconds(1)
            $0.limits.authDeadline = .seconds(600)
        }
        try await node.run { url in
            let port = Int(url.split(separator: ":").last!)!
            let (pings, closed) = try await RawWebSocket.blocking {
                let fd = try RawWebSocket.open(port: port, path: "/v1/ws", headers: [:], timeoutSeconds: 30)
                defer { close(fd) }
                var pings = 0
                var closed = false
                _ = RawWebSocket.stream(fd) { opcode, payload in
                    if opcode == 0x8 { closed = true; return true }
                    guard opcode == 0x9 else { return false }
                    pings += 1
                    RawWebSocket.sendMasked(fd, opcode: 0xA, payload: payload)
                    return pings == 3
                }
                return (pings, closed)
            }
            #expect(pings == 3, "the node pinged three times")
            #expect(!closed, "still open after answering two pings")
        }
    }
}

import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A client that stops reading: its outbound queue overflows, it is closed with 4002 (or dropped when
/// it never drains even that frame), and on reconnecting with `resume` it has lost nothing.
@Suite struct SlowConsumerTests {
    /// Enough 8 KB posts to fill any loopback socket buffers and then the 8-frame queue.
    static let posts = 1000
    static let filler = String(repeating: "x", count: 8000)

    @Test func aConsumerThatStopsReadingIsClosedWith4002AndResumesLosingNothing() async throws {
        let node = TestNode {
            $0.limits.outboundQueueFrames = 8
            $0.limits.slowConsumerCloseGrace = .seconds(60)
        }
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice"), bob = try await TestNode.client(url, "bob")
            let id = try await alice.withConnection { try await $0.createDirect(with: "bob").conversation.id }
            let fd = try await openSilentSocket(url: url, user: "bob")
            defer { close(fd) }
            try await flood(id, from: alice)

            // Now read: everything the socket had taken, then the close frame, then the end of the stream.
            let (seqs, closeCode, ended) = try await RawWebSocket.blocking {
                var seqs: [Int64] = [], closeCode: Int?
                _ = RawWebSocket.stream(fd, afterHead: false) { opcode, payload in
                    if opcode == 0x8 {
                        closeCode = RawWebSocket.closeCode(payload)
                        return true
                    }
                    if let seq = Self.postedSeq(payload) { seqs.append(seq) }
                    return false
                }
                return (seqs, closeCode, RawWebSocket.stream(fd, afterHead: false) { _, _ in false }.ended)
            }
            #expect(closeCode == Int(CloseCode.slowConsumer.rawValue))
            #expect(ended, "the node closes the socket after the close frame")
            #expect(seqs == (1...Int64(Self.posts)).prefix(seqs.count).map { $0 }, "what arrived arrived in order")
            #expect(seqs.count < Self.posts, "the queue overflowed before everything was written")

            let last = seqs.last ?? 0
            try await bob.withConnection(resume: [id: last]) { socket in
                try await eventually("bob catches up to seq \(Self.posts)") { socket.positions[id] == Int64(Self.posts) }
                #expect(socket.receivedEntries.map(\.seq) == Array(last + 1...Int64(Self.posts)), "the rest, once, in order")
            }
        }
    }

    @Test func aConsumerThatNeverDrainsIsDroppedAfterTheGrace() async throws {
        let node = TestNode {
            $0.limits.outboundQueueFrames = 8
            $0.limits.slowConsumerCloseGrace = .milliseconds(200)
        }
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice")
            let id = try await alice.withConnection { try await $0.createDirect(with: "bob").conversation.id }
            let fd = try await openSilentSocket(url: url, user: "bob")
            defer { close(fd) }
            try await eventually("bob is online") { try await Self.presence(of: "bob", askedBy: alice)?.online == true }
            try await flood(id, from: alice)
            // Bob has still read nothing, yet his session is gone: the socket was dropped, not left open.
            try await eventually("bob's dropped connection leaves him offline") {
                try await Self.presence(of: "bob", askedBy: alice)?.online == false
            }
        }
    }

    @Test func aResumeThatIsNeverReadEndsTheSessionAfterTheGrace() async throws {
        let node = TestNode {
            $0.limits.outboundQueueFrames = 8
            $0.limits.slowConsumerCloseGrace = .milliseconds(200)
        }
        try await node.run { url in
            let alice = try await TestNode.client(url, "alice")
            let id = try await alice.withConnection { try await $0.createDirect(with: "bob").conversation.id }
            try await flood(id, from: alice)
            // Bob connects with all of it to catch up on and reads nothing past `welcome`: the catch-up
            // never overflows the queue (it waits for room), so it is its patience that ends the session.
            let fd = try await openSilentSocket(url: url, user: "bob")
            defer { close(fd) }
            try await eventually("bob's stalled resume leaves him offline") {
                try await Self.presence(of: "bob", askedBy: alice).map { !$0.online && $0.lastSeen != nil } == true
            }
        }
    }

    /// A WebSocket for `user` with a tiny receive buffer, read up to its `welcome` (so that its session
    /// is live before the flood) and then not again until the test says so.
    func openSilentSocket(url: String, user: String) async throws -> Int32 {
        let port = Int(url.split(separator: ":").last!)!
        let token = try await TestNode.token(user)
        return try await RawWebSocket.blocking {
            let fd = try RawWebSocket.open(
                port: port, path: "/v1/ws", headers: ["Authorization": "Bearer \(token)"], timeoutSeconds: 10, receiveBuffer: 4096)
            let welcome = RawWebSocket.stream(fd) { opcode, payload in
                opcode == 0x1 && String(decoding: payload, as: UTF8.self).contains("\"welcome\"")
            }
            guard welcome.frames == 1, !welcome.ended else {
                close(fd)
                throw ConformanceFailure(message: "no welcome", file: #filePath, line: #line)
            }
            return fd
        }
    }

    /// `user`'s presence as `asker` sees it, over REST. Not over a WebSocket: a new connection of the
    /// sender would be owed a catch-up of the whole flood (her delivered watermark is where it was),
    /// through the tiny outbox of these tests, and a loaded machine's client that falls behind it for
    /// the close grace is evicted as a slow consumer (CI saw it), which is not what these tests are about.
    static func presence(of user: String, askedBy asker: ChatClient) async throws -> PresenceBody? {
        try await asker.rest("GET", "/v1/presence?users=\(user)", as: PresenceReply.self).users.first
    }

    /// Posts over REST: the sender is a participant, and a WebSocket of hers would share the tiny
    /// outbox limit, so a burst of her own echoes (a relay catching up from the store sends many at
    /// once) could close her as a slow consumer too, which is not what these tests are about.
    func flood(_ id: String, from client: ChatClient) async throws {
        for index in 1...Self.posts {
            _ = try await client.rest(
                "POST", "/v1/conversations/\(id)/messages", body: SendRequest(clientID: "flood-\(index)", content: "\(index) \(Self.filler)"),
                as: SendReply.self)
        }
    }

    /// The seq of a `message.new` frame, nil for any other frame.
    static func postedSeq(_ payload: [UInt8]) -> Int64? {
        struct Frame: Decodable {
            struct Payload: Decodable {
                struct Message: Decodable { var seq: Int64 }
                var message: Message?
            }
            var type: String
            var payload: Payload?
        }
        guard let frame = try? JSONDecoder().decode(Frame.self, from: Data(payload)), frame.type == EventType.messageNew.rawValue else {
            return nil
        }
        return frame.payload?.message?.seq
    }
}

import ChatClient
import ChatCore
import ChatTesting
import ChatWire
import Foundation
import Testing

/// A connection's sends are pipelined: many in flight at once, stored in the order sent, each answered
/// once; a request of another kind waits for them and sees them all.
@Suite struct PipelinedSendsTests {
    /// The replies naming one of `ids`, in arrival order.
    static func replies(_ socket: ChatConnection, _ ids: Set<String>) -> [ServerFrame] {
        socket.events.filter { $0.re.map { ids.contains($0.description) } ?? false }
    }

    @Test func sendsInFlightAreStoredInTheOrderSentAndEachAnsweredOnce() async throws {
        try await TestNode().run { url in
            let alice = try await TestNode.client(url, "alice")
            try await alice.withConnection { socket in
                let id = try await socket.createGroup(title: "T", participants: ["bob"]).conversation.id
                let count = 100
                let ids = Set((0..<count).map { "s\($0)" })
                for index in 0..<count {
                    try await socket.sendRaw(
                        #"{"type":"message.send","id":"s\#(index)","payload":{"conversation":"\#(id)","client_id":"c\#(index)","content":"m\#(index)"}}"#)
                }
                // Not a send: it runs once every send before it has ended, so it reads them all.
                let page = try await socket.history(id, limit: 200)
                #expect(page.messages.map(\.content) == (0..<count).map { "m\($0)" }, "stored in the order sent, gap-free")
                #expect(page.messages.map(\.seq) == Array(1...Int64(count)))
                let replies = Self.replies(socket, ids)
                #expect(replies.count == count, "each send answered before the history")
                #expect(Set(replies.compactMap { $0.re?.description }) == ids, "once each")
                let acks = replies.compactMap { try? $0.payload(SendReply.self) }
                #expect(acks.count == count && acks.allSatisfy { !$0.duplicate })
            }
        }
    }

    /// A retry sent while the first is still in flight finds it: one message, both answered with it.
    @Test func aRetryInFlightBesideItsFirstIsStoredOnce() async throws {
        try await TestNode().run { url in
            let alice = try await TestNode.client(url, "alice")
            try await alice.withConnection { socket in
                let id = try await socket.createDirect(with: "bob").conversation.id
                for request in ["a", "b"] {
                    try await socket.sendRaw(
                        #"{"type":"message.send","id":"\#(request)","payload":{"conversation":"\#(id)","client_id":"same","content":"once"}}"#)
                }
                #expect(try await socket.history(id).messages.count == 1, "one message")
                let acks = Self.replies(socket, ["a", "b"]).compactMap { try? $0.payload(SendReply.self) }
                #expect(acks.count == 2 && Set(acks.map(\.message.seq)) == [1], "both answered with it")
                #expect(acks.filter(\.duplicate).count == 1, "the second found the first")
            }
        }
    }
}

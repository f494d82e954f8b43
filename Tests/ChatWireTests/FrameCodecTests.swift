import ChatCore
import ChatWire
import Testing

@Suite struct FrameCodecTests {
    func decode(_ text: String) -> Result<InboundFrame, FrameError> { FrameCodec.decode(Array(text.utf8)) }

    @Test func decodesEveryRequestType() {
        #expect(decode(#"{"type":"ping","id":7}"#) == .success(.ping(id: .number(7))))
        #expect(decode(#"{"type":"auth","payload":{"token":"t"}}"#) == .success(.auth(id: nil, token: "t", resume: [:])))
        #expect(
            decode(#"{"type":"auth","payload":{"token":"t","resume":{"c_1":7}}}"#)
                == .success(.auth(id: nil, token: "t", resume: [ConversationID("c_1")!: 7])))
        #expect(
            decode(#"{"type":"message.edit","id":1,"payload":{"conversation":"c_1","seq":3,"content":"new"}}"#)
                == .success(.command(id: .number(1), .act(ConversationID("c_1")!, .edit(target: 3), clientID: nil, content: "new", metadata: nil))))
        #expect(
            decode(#"{"type":"reaction.remove","payload":{"conversation":"c_1","seq":3,"emoji":"+1","client_id":"k"}}"#)
                == .success(
                    .command(id: nil, .act(ConversationID("c_1")!, .unreact(target: 3, emoji: "+1"), clientID: ClientMessageID("k")!, content: "", metadata: nil))))
        #expect(
            decode(#"{"type":"receipt.mark","payload":{"conversation":"c_1","read":4}}"#)
                == .success(.command(id: nil, .markReceipt(ConversationID("c_1")!, delivered: nil, read: 4))))
        #expect(decode(#"{"type":"typing","payload":{"conversation":"c_1"}}"#) == .success(.command(id: nil, .typing(ConversationID("c_1")!))))
        #expect(
            decode(#"{"type":"conversation.unarchive","payload":{"conversation":"c_1"}}"#)
                == .success(.command(id: nil, .archive(ConversationID("c_1")!, archived: false))))
        if case .failure(let failure) = decode(#"{"type":"message.delete","id":"d","payload":{"conversation":"c_1","seq":0}}"#) {
            #expect(failure == FrameError(re: "d", error: .validation("'seq' must be at least 1")))
        } else {
            Issue.record("a seq of 0 must be refused")
        }
        if case .failure(let failure) = decode(#"{"type":"receipt.mark","id":"r","payload":{"conversation":"c_1"}}"#) {
            #expect(failure.error.code == .validation)
        } else {
            Issue.record("a receipt needs a watermark")
        }
        #expect(
            decode(#"{"type":"message.send","id":"a","payload":{"conversation":"c_1","client_id":"k","content":"hi"}}"#)
                == .success(.command(id: "a", .send(ConversationID("c_1")!, clientID: ClientMessageID("k")!, kind: .text, content: "hi", metadata: nil))))
        #expect(decode(#"{"type":"conversation.list"}"#) == .success(.command(id: nil, .listConversations(cursor: nil, limit: nil, workspace: nil))))
        #expect(
            decode(#"{"type":"conversation.add_participants","payload":{"conversation":"c_1","users":["b"],"role":"moderator"}}"#)
                == .success(.command(id: nil, .addParticipants(ConversationID("c_1")!, users: [UserID("b")!], role: .moderator))))
        for type in RequestType.allCases {
            if case .failure(let failure) = decode(#"{"type":"\#(type.rawValue)","id":"x","payload":{}}"#) {
                #expect(failure.re == "x" && failure.error.code == .validation)
            }
        }
    }

    @Test func namesWhatIsWrong() {
        #expect(decode("{nope") == .failure(FrameError(re: nil, error: .validation("the frame is not a JSON object"))))
        #expect(decode("[1,2]") == .failure(FrameError(re: nil, error: .validation("the frame is not a JSON object"))))
        #expect(decode(#"{"id":"1"}"#) == .failure(FrameError(re: "1", error: .validation("missing field 'type'"))))
        #expect(decode(#"{"id":"1","type":null}"#) == .failure(FrameError(re: "1", error: .validation("missing field 'type'"))))
        // A type of the wrong type still names the request: its one reply must reach the client.
        #expect(decode(#"{"type":5,"id":"n2"}"#) == .failure(FrameError(re: "n2", error: .validation("field 'type' has the wrong type"))))
        #expect(decode(#"{"type":["ping"],"id":9}"#) == .failure(FrameError(re: .number(9), error: .validation("field 'type' has the wrong type"))))
        let badID = FrameError(re: nil, error: .validation("field 'id' must be a string or an integer of at most 128 bytes"))
        #expect(decode(#"{"type":"ping","id":3.5}"#) == .failure(badID))
        #expect(decode(#"{"type":"ping","id":{"a":1}}"#) == .failure(badID))
        #expect(decode(#"{"type":"ping","id":"\#(String(repeating: "x", count: 129))"}"#) == .failure(badID))
        #expect(decode(#"{"type":"nope","id":"2"}"#) == .failure(FrameError(re: "2", error: .validation("unknown frame type 'nope'"))))
        #expect(decode(#"{"type":"message.send","id":"3"}"#) == .failure(FrameError(re: "3", error: .validation("missing field 'payload'"))))
        #expect(
            decode(#"{"type":"message.send","id":"4","payload":{"conversation":"c_1","client_id":"k","content":5}}"#)
                == .failure(FrameError(re: "4", error: .validation("field 'content' has the wrong type"))))
        #expect(
            decode(#"{"type":"conversation.create_direct","id":"5","payload":{"user":"has space"}}"#)
                == .failure(FrameError(re: "5", error: .validation("'user' is not a valid user id"))))
        #expect(
            decode(#"{"type":"message.send","id":"6","payload":{"conversation":"c_1","client_id":"k","content":"x","kind":"hologram"}}"#)
                == .failure(FrameError(re: "6", error: .validation("field 'kind' has an invalid value"))))
    }

    /// Fields are named as in the payload (the REST body). Numbers that are valid JSON but fit no field
    /// are a wrong type, not broken JSON (Foundation's decoder does not say which field).
    @Test func numbersThatDoNotFitAreAWrongType() {
        for seq in ["1e30", "3.5", "-9223372036854775809", "18446744073709551616"] {
            let frame = #"{"type":"message.delete","id":"d","payload":{"conversation":"c_1","seq":\#(seq)}}"#
            let message = "a number has the wrong type for its field (a fraction where an integer belongs, or out of range)"
            #expect(decode(frame) == .failure(FrameError(re: "d", error: .validation(message))), "seq \(seq)")
        }
        #expect(
            decode(#"{"type":"message.delete","id":"d","payload":{"conversation":"c_1","seq":true}}"#)
                == .failure(FrameError(re: "d", error: .validation("field 'seq' has the wrong type"))))
        #expect(
            decode(#"{"type":"conversation.create_group","id":"g","payload":{"title":"T","participants":["b",7]}}"#)
                == .failure(FrameError(re: "g", error: .validation("field 'participants[1]' has the wrong type"))))
        #expect(decode(#"{"type":"message.send","id":"p","payload":5}"#) == .failure(FrameError(re: "p", error: .validation("field 'payload' has the wrong type"))))
    }

    @Test func neverTrapsOnArbitraryBytes() {
        var generator = SystemRandomNumberGenerator()
        let seeds = [#"{"type":"message.send","id":"1","payload":{"conversation":"c_1","client_id":"k","content":"hi"}}"#]
        for _ in 0..<5000 {
            var bytes = Array(seeds[0].utf8)
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = FrameCodec.decode(bytes)
        }
        _ = FrameCodec.decode([UInt8]())
        _ = FrameCodec.decode((0..<2000).map { _ in UInt8.random(in: 0...255) })
    }

    @Test func encodesRepliesAndStatuses() throws {
        let frame = try ServerFrame(bytes: FrameCodec.error(re: "9", .notFound("no such conversation")))
        #expect(frame.type == "error" && frame.re == "9")
        // A number id comes back as the same number, a string id as the same string.
        #expect(String(decoding: FrameCodec.ack(re: .number(77), EmptyReply()), as: UTF8.self).contains(#""re":77"#))
        #expect(String(decoding: FrameCodec.ack(re: "77", EmptyReply()), as: UTF8.self).contains(#""re":"77""#))
        #expect(try ServerFrame(bytes: FrameCodec.ack(re: .number(77), EmptyReply())).re == .number(77))
        #expect(try frame.payload(ErrorBody.self) == ErrorBody(code: "not_found", message: "no such conversation"))
        #expect(ChatError.Code.all.map(HTTPStatusTable.status(for:)) == [400, 401, 403, 404, 409, 429, 503, 500])
        #expect(CloseCode.unauthorized.shouldReconnect == false && CloseCode.slowConsumer.shouldReconnect)
    }
}

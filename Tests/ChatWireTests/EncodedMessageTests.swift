import ChatCore
@testable import ChatWire
import Foundation
import Testing

/// A send encodes its entry once: the event, the ack and the REST body spliced around those bytes read
/// exactly as the frames encoded whole, for every shape of request id.
@Suite struct EncodedMessageTests {
    static let message = Message(
        id: MessageID("m_1")!, conversation: ConversationID("c_1")!, seq: 7, sender: UserID("ann")!, clientID: ClientMessageID("k1")!,
        kind: .text, content: "say \"hi\" \\ ünïcødé 🎉\n/\u{1}", metadata: .object(["a": .array([.number(1), .null, .string("x")])]),
        createdAt: Timestamp(milliseconds: 1_763_800_000_000), reactions: [Reaction(emoji: "👍", users: [UserID("bob")!])])

    /// The JSON value of `bytes`, comparable.
    func value(_ bytes: [UInt8]) throws -> NSObject {
        try #require(try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed]) as? NSObject)
    }

    @Test(arguments: [nil, RequestID.text("7"), .text(#"q"u\o/te"#), .text("tab\tnew\nline\u{7}"), .text("ünï"), .number(42), .number(-1)])
    func theAckReadsAsTheWholeFrame(_ re: RequestID?) throws {
        let body = MessageBody(Self.message)
        let encoded = EncodedMessage(body)
        for duplicate in [false, true] {
            let spliced = FrameCodec.ack(re: re, sent: encoded, duplicate: duplicate)
            #expect(try value(spliced) == value(FrameCodec.ack(re: re, SendReply(message: body, duplicate: duplicate))))
            #expect(try value(FrameCodec.sent(encoded, duplicate: duplicate)) == value(FrameCodec.body(SendReply(message: body, duplicate: duplicate))))
        }
    }

    @Test func theEventReadsAsTheWholeFrame() throws {
        let body = MessageBody(Self.message)
        for type in [EventType.messageNew, .messageEdited] {
            #expect(try value(FrameCodec.event(type, message: EncodedMessage(body))) == value(FrameCodec.event(type, MessageEvent(message: body))))
        }
    }
}

/// The entry's bytes, written by hand, read as `JSONEncoder`'s do (its member order is its dictionary's,
/// so not comparable byte for byte) and decode to the same body, whatever the fields hold; strings are
/// escaped exactly as `JSONEncoder` escapes them.
@Suite struct MessageBodyJSONTests {
    @Test func stringsAreEscapedAsTheEncoderEscapesThem() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let texts = [String((0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) }), "ünïcødé 🎉 \u{2028} </script>", "", "\"\\"]
        for text in texts {
            #expect(FrameCodec.jsonString(text) == Array(try encoder.encode(text)))
        }
    }

    @Test func theHandWrittenBytesReadAsTheEncoders() throws {
        var bodies: [MessageBody] = []
        var body = MessageBody(EncodedMessageTests.message)
        bodies.append(body)
        body.metadata = nil
        body.reactions = nil
        bodies.append(body)
        body.content = String((0..<0x80).map { Character(Unicode.Scalar(UInt8($0))) }) + "ünïcødé 🎉 \u{2028} </script>"
        body.target = 3
        body.emoji = "👍"
        body.editedAt = 1_763_800_000_123
        body.deletedAt = -1
        body.seq = Int64.max
        body.action = "react"
        bodies.append(body)
        body.reactions = [ReactionBody(Reaction(emoji: "\"", users: [])), ReactionBody(Reaction(emoji: "x", users: [UserID("a")!, UserID("b")!]))]
        body.metadata = .number(1.5)
        body.kind = .voice
        body.createdAt = 0
        bodies.append(body)
        body.content = ""
        body.clientID = "\\\u{0}"
        body.metadata = .null
        bodies.append(body)
        for body in bodies {
            let json = EncodedMessage(body).json
            #expect(try EncodedMessageTests().value(json) == EncodedMessageTests().value(FrameCodec.body(body)))
            // (A metadata of JSON null reads back as none, from either encoder's bytes.)
            #expect(try JSONDecoder().decode(MessageBody.self, from: Data(json)) == JSONDecoder().decode(MessageBody.self, from: Data(FrameCodec.body(body))))
        }
    }
}

import ChatCore
import ChatWire
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

import ChatCore
import NIOCore
import Testing

@testable import RedisEngine

@Suite struct EnvelopeCodecTests {
    let channel = ChatCore.Channel.conversation(ConversationID("c_1")!)

    var full: Envelope {
        var envelope = Envelope(
            channel: channel, kind: .message, origin: NodeID("node-é"), eventID: 0x0102_0304_0506_0708,
            frame: Array(#"{"type":"message","payload":{"content":"hé"}}"#.utf8) + [0, 255])
        envelope.conversation = ConversationID("c_1")!
        envelope.seq = 300
        envelope.subject = UserID("alice")!
        envelope.sentAt = Timestamp(milliseconds: 1_700_000_000_123)
        return envelope
    }

    /// A presence event: the user and the conversations whose members are told.
    var presence: Envelope {
        Envelope(
            channel: .presence, kind: .presence, origin: NodeID("n"), eventID: 7, subject: UserID("alice")!,
            conversations: ["c_1", "c_zoë", "c_用户"].map { ConversationID($0)! }, frame: Array(#"{"type":"presence"}"#.utf8))
    }

    @Test func roundTripsEveryField() {
        let minimal = Envelope(channel: channel, kind: .signal, origin: NodeID("n"), eventID: 1, frame: [])
        for envelope in [full, minimal] {
            #expect(EnvelopeCodec.decode(ByteBuffer(bytes: EnvelopeCodec.encode(envelope)), channel: channel) == envelope)
        }
        #expect(EnvelopeCodec.decode(ByteBuffer(bytes: EnvelopeCodec.encode(presence)), channel: .presence) == presence)
    }

    @Test func aTruncatedOrForeignPayloadDecodesToNil() {
        for envelope in [full, presence] {
            let bytes = EnvelopeCodec.encode(envelope)
            let headerEnd = bytes.count - envelope.frame.count
            for length in 0..<headerEnd {
                #expect(EnvelopeCodec.decode(ByteBuffer(bytes: bytes.prefix(length)), channel: envelope.channel) == nil, "cut at \(length)")
            }
        }
        let bytes = EnvelopeCodec.encode(full)
        var foreign = bytes
        foreign[0] = 2
        #expect(EnvelopeCodec.decode(ByteBuffer(bytes: foreign), channel: channel) == nil, "another version")
    }
}

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

    @Test func roundTripsEveryField() {
        let minimal = Envelope(channel: channel, kind: .signal, origin: NodeID("n"), eventID: 1, frame: [])
        for envelope in [full, minimal] {
            #expect(EnvelopeCodec.decode(ByteBuffer(bytes: EnvelopeCodec.encode(envelope)), channel: channel) == envelope)
        }
    }

    @Test func aTruncatedOrForeignPayloadDecodesToNil() {
        let bytes = EnvelopeCodec.encode(full)
        let headerEnd = bytes.count - full.frame.count
        for length in 0..<headerEnd {
            #expect(EnvelopeCodec.decode(ByteBuffer(bytes: bytes.prefix(length)), channel: channel) == nil, "cut at \(length)")
        }
        var foreign = bytes
        foreign[0] = 2
        #expect(EnvelopeCodec.decode(ByteBuffer(bytes: foreign), channel: channel) == nil, "another version")
    }
}

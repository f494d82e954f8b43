import ChatCore
import NIOCore

/// The bytes of an ``Envelope`` on a Redis channel: a small binary header (version, kind, which
/// optional fields follow, event id, origin, the optional fields) and then the client frame as is, so
/// a receiving node hands the frame to sockets without re-encoding. The channel is the Redis channel's
/// own name and is not repeated.
///
/// Guarantees: `decode(encode(e), channel: e.channel) == e`; bytes that are not a version-1 envelope
/// decode to nil (and are dropped by the broker, never crash it).
enum EnvelopeCodec {
    static let version: UInt8 = 1

    private struct Fields: OptionSet {
        let rawValue: UInt8
        static let conversation = Fields(rawValue: 1)
        static let seq = Fields(rawValue: 2)
        static let subject = Fields(rawValue: 4)
        static let sentAt = Fields(rawValue: 8)
        /// A UInt16 count, then each id as a string.
        static let conversations = Fields(rawValue: 16)
    }

    /// Written straight into the array that becomes the `PUBLISH` argument: one buffer, no copy.
    static func encode(_ envelope: Envelope) -> [UInt8] {
        var fields: Fields = []
        if envelope.conversation != nil { fields.insert(.conversation) }
        if envelope.seq != nil { fields.insert(.seq) }
        if envelope.subject != nil { fields.insert(.subject) }
        if envelope.sentAt != nil { fields.insert(.sentAt) }
        if !envelope.conversations.isEmpty { fields.insert(.conversations) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(48 + envelope.origin.rawValue.utf8.count + envelope.frame.count)
        bytes.append(version)
        bytes.append(envelope.kind.rawValue.utf8.first!)
        bytes.append(fields.rawValue)
        append(envelope.eventID, to: &bytes)
        append(envelope.origin.rawValue, to: &bytes)
        if let conversation = envelope.conversation { append(conversation.rawValue, to: &bytes) }
        if let seq = envelope.seq { append(seq, to: &bytes) }
        if let subject = envelope.subject { append(subject.rawValue, to: &bytes) }
        if let sentAt = envelope.sentAt { append(sentAt.milliseconds, to: &bytes) }
        if !envelope.conversations.isEmpty {
            append(UInt16(truncatingIfNeeded: envelope.conversations.count), to: &bytes)
            for conversation in envelope.conversations { append(conversation.rawValue, to: &bytes) }
        }
        bytes.append(contentsOf: envelope.frame)
        return bytes
    }

    static func decode(_ bytes: ByteBuffer, channel: ChatCore.Channel) -> Envelope? {
        var buffer = bytes
        guard buffer.readInteger(as: UInt8.self) == version,
            let kindByte = buffer.readInteger(as: UInt8.self),
            let kind = EventKind(rawValue: String(UnicodeScalar(kindByte))),
            let fieldBits = buffer.readInteger(as: UInt8.self),
            let eventID = buffer.readInteger(as: UInt64.self),
            let origin = readString(&buffer)
        else { return nil }
        let fields = Fields(rawValue: fieldBits)
        var envelope = Envelope(channel: channel, kind: kind, origin: NodeID(origin), eventID: eventID, frame: [])
        if fields.contains(.conversation) {
            guard let raw = readString(&buffer), let conversation = ConversationID(raw) else { return nil }
            envelope.conversation = conversation
        }
        if fields.contains(.seq) {
            guard let seq = buffer.readInteger(as: Int64.self) else { return nil }
            envelope.seq = seq
        }
        if fields.contains(.subject) {
            guard let raw = readString(&buffer), let subject = UserID(raw) else { return nil }
            envelope.subject = subject
        }
        if fields.contains(.sentAt) {
            guard let milliseconds = buffer.readInteger(as: Int64.self) else { return nil }
            envelope.sentAt = Timestamp(milliseconds: milliseconds)
        }
        if fields.contains(.conversations) {
            guard let count = buffer.readInteger(as: UInt16.self) else { return nil }
            for _ in 0..<count {
                guard let raw = readString(&buffer), let conversation = ConversationID(raw) else { return nil }
                envelope.conversations.append(conversation)
            }
        }
        envelope.frame = buffer.readBytes(length: buffer.readableBytes) ?? []
        return envelope
    }

    /// Big-endian, as ByteBuffer's `readInteger` reads it.
    private static func append<I: FixedWidthInteger>(_ value: I, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    /// A UInt16 length, then the UTF-8 bytes (ids are far shorter than 64 KiB).
    private static func append(_ string: String, to bytes: inout [UInt8]) {
        append(UInt16(truncatingIfNeeded: string.utf8.count), to: &bytes)
        bytes.append(contentsOf: string.utf8)
    }

    private static func readString(_ buffer: inout ByteBuffer) -> String? {
        guard let length = buffer.readInteger(as: UInt16.self) else { return nil }
        return buffer.readString(length: Int(length))
    }
}

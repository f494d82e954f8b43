import Foundation
import NIOCore

/// Reads the few fields the harness needs out of a frame's JSON bytes in one pass, without decoding
/// the whole frame: a receiver at 100,000 deliveries a second cannot afford a JSON decoder per frame.
/// The first occurrence of each ``Key`` is found while the bytes are walked once; the accessors then
/// read a value where it starts. Frames are compact JSON (no spaces around colons); keys may come in
/// any order; string values are returned as they stand (the harness's own values have no escapes).
struct FrameScanner {
    /// The keys the harness reads.
    enum Key: Int, CaseIterable {
        case type, id, re, conversation, seq, content, code, delayMS, token, participants, clientID, user, messages, hasMore

        var name: StaticString {
            switch self {
            case .type: "type"
            case .id: "id"
            case .re: "re"
            case .conversation: "conversation"
            case .seq: "seq"
            case .content: "content"
            case .code: "code"
            case .delayMS: "delay_ms"
            case .token: "token"
            case .participants: "participants"
            case .clientID: "client_id"
            case .user: "user"
            case .messages: "messages"
            case .hasMore: "has_more"
            }
        }
    }

    let buffer: ByteBuffer
    /// Where each key's value starts (an offset into the readable bytes), or -1.
    private var starts = SIMD16<Int32>(repeating: -1)

    init(_ buffer: ByteBuffer) {
        self.buffer = buffer
        var starts = SIMD16<Int32>(repeating: -1)
        buffer.withUnsafeReadableBytes { bytes in
            let count = bytes.count
            var index = 0
            while index < count {
                index = Self.quote(bytes, from: index)
                guard index < count else { break }
                let end = Self.closingQuote(bytes, from: index + 1)
                guard end < count else { break }
                if end + 1 < count, bytes[end + 1] == UInt8(ascii: ":"), let key = Self.key(bytes, from: index + 1, to: end),
                    starts[key.rawValue] < 0
                {
                    starts[key.rawValue] = Int32(end + 2)
                }
                index = end + 1
            }
        }
        self.starts = starts
    }

    /// The string value of the first `"key":"…"`.
    func string(_ key: Key) -> Substring? {
        valueRange(key).map { range in
            buffer.withUnsafeReadableBytes { Substring(decoding: UnsafeRawBufferPointer(rebasing: $0[range]), as: UTF8.self) }
        }
    }

    /// Whether the first `"key":"…"` is exactly `value` (no allocation).
    func string(_ key: Key, is value: StaticString) -> Bool {
        guard let range = valueRange(key), range.count == value.utf8CodeUnitCount else { return false }
        return buffer.withUnsafeReadableBytes { bytes in
            value.withUTF8Buffer { expected in
                for offset in 0..<expected.count where bytes[range.lowerBound + offset] != expected[offset] { return false }
                return true
            }
        }
    }

    /// The integer value of the first `"key":123`.
    func integer(_ key: Key) -> Int64? {
        let start = Int(starts[key.rawValue])
        guard start >= 0 else { return nil }
        return buffer.withUnsafeReadableBytes { bytes -> Int64? in
            var index = start
            var negative = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
                negative = true
                index += 1
            }
            let (value, digits) = Self.digits(bytes, from: index)
            guard digits > 0 else { return nil }
            return negative ? -Int64(bitPattern: value) : Int64(bitPattern: value)
        }
    }

    /// The leading decimal digits of the first `"key":"123…"` string value (the send time the
    /// harness puts at the start of each message's content).
    func leadingNumber(inString key: Key) -> UInt64? {
        guard let range = valueRange(key) else { return nil }
        return buffer.withUnsafeReadableBytes { bytes in
            let (value, digits) = Self.digits(bytes, from: range.lowerBound)
            return digits > 0 ? value : nil
        }
    }

    /// The integer values of every `"key":123` in the frame, in order (the seqs of a history page).
    func allIntegers(_ key: Key) -> [Int64] {
        let name = key.name
        return buffer.withUnsafeReadableBytes { bytes in
            name.withUTF8Buffer { name in
                var result: [Int64] = []
                let length = name.count
                var index = 0
                while index + length + 3 <= bytes.count {
                    defer { index += 1 }
                    guard bytes[index] == UInt8(ascii: "\""), bytes[index + length + 1] == UInt8(ascii: "\""),
                        bytes[index + length + 2] == UInt8(ascii: ":")
                    else { continue }
                    var matched = true
                    for offset in 0..<length where bytes[index + 1 + offset] != name[offset] {
                        matched = false
                        break
                    }
                    guard matched else { continue }
                    let (value, digits) = Self.digits(bytes, from: index + length + 3)
                    if digits > 0 { result.append(Int64(bitPattern: value)) }
                }
                return result
            }
        }
    }

    /// The value of the first `"key":true` or `"key":false`.
    func boolean(_ key: Key) -> Bool? {
        let start = Int(starts[key.rawValue])
        guard start >= 0 else { return nil }
        return buffer.withUnsafeReadableBytes { bytes in
            guard start < bytes.count else { return nil }
            switch bytes[start] {
            case UInt8(ascii: "t"): return true
            case UInt8(ascii: "f"): return false
            default: return nil
            }
        }
    }

    /// The strings of the first `"key":["…","…"]`.
    func strings(_ key: Key) -> [Substring] {
        let start = Int(starts[key.rawValue])
        guard start >= 0 else { return [] }
        return buffer.withUnsafeReadableBytes { bytes in
            guard start < bytes.count, bytes[start] == UInt8(ascii: "[") else { return [] }
            var result: [Substring] = []
            var index = start + 1
            while index < bytes.count, bytes[index] != UInt8(ascii: "]") {
                if bytes[index] == UInt8(ascii: "\"") {
                    let end = Self.closingQuote(bytes, from: index + 1)
                    guard end < bytes.count else { break }
                    result.append(Substring(decoding: UnsafeRawBufferPointer(rebasing: bytes[(index + 1)..<end]), as: UTF8.self))
                    index = end
                }
                index += 1
            }
            return result
        }
    }

    // MARK: Scanning

    /// The bytes between the quotes of a string value, when the key's value is a string.
    private func valueRange(_ key: Key) -> Range<Int>? {
        let start = Int(starts[key.rawValue])
        guard start >= 0 else { return nil }
        return buffer.withUnsafeReadableBytes { bytes in
            guard start < bytes.count, bytes[start] == UInt8(ascii: "\"") else { return nil }
            let end = Self.closingQuote(bytes, from: start + 1)
            return end < bytes.count ? (start + 1)..<end : nil
        }
    }

    /// The index of the first quote at or after `from` (memchr: vectorised), or the count.
    private static func quote(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int {
        guard from < bytes.count, let base = bytes.baseAddress,
            let found = memchr(base + from, Int32(UInt8(ascii: "\"")), bytes.count - from)
        else { return bytes.count }
        return base.distance(to: UnsafeRawPointer(found))
    }

    /// The index of the quote that closes a string whose first character is at `from`: the first
    /// quote not escaped (preceded by an odd run of backslashes).
    private static func closingQuote(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int {
        var index = quote(bytes, from: from)
        while index < bytes.count {
            var backslashes = 0
            while index - backslashes - 1 >= from, bytes[index - backslashes - 1] == UInt8(ascii: "\\") { backslashes += 1 }
            if backslashes % 2 == 0 { return index }
            index = quote(bytes, from: index + 1)
        }
        return index
    }

    private static func digits(_ bytes: UnsafeRawBufferPointer, from: Int) -> (UInt64, Int) {
        var index = from
        var value: UInt64 = 0
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            value = value &* 10 &+ UInt64(bytes[index] &- UInt8(ascii: "0"))
            index += 1
        }
        return (value, index - from)
    }

    /// The keys by the length of their names: a key found in a frame is compared with those only.
    private static let keysByLength: [[Key]] = {
        var table = [[Key]](repeating: [], count: 16)
        for key in Key.allCases { table[key.name.utf8CodeUnitCount].append(key) }
        return table
    }()

    /// The ``Key`` named by the bytes `from..<to`, if any.
    private static func key(_ bytes: UnsafeRawBufferPointer, from: Int, to: Int) -> Key? {
        let length = to - from
        guard length < keysByLength.count else { return nil }
        for key in keysByLength[length] {
            let name = key.name
            let matched = name.withUTF8Buffer { name in
                for offset in 0..<length where bytes[from + offset] != name[offset] { return false }
                return true
            }
            if matched { return key }
        }
        return nil
    }
}

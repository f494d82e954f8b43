import NIOCore

/// Reads the few fields the harness needs out of a server frame's JSON bytes without decoding the
/// whole frame: a receiver at 100,000 deliveries a second cannot afford a JSON decoder per frame.
/// The node's frames are compact JSON (no spaces after colons), and keys may come in any order.
struct FrameScanner {
    let bytes: ByteBufferView

    init(_ buffer: ByteBuffer) { bytes = buffer.readableBytesView }

    /// The string value of the first `"key":"…"`, unescaped only as far as the harness's own values
    /// need (they have no escapes).
    func string(_ key: StaticString) -> Substring? {
        guard let start = valueStart(key), start < bytes.endIndex, bytes[start] == UInt8(ascii: "\"") else { return nil }
        var index = start + 1
        while index < bytes.endIndex, bytes[index] != UInt8(ascii: "\"") {
            if bytes[index] == UInt8(ascii: "\\") { index += 1 }
            index += 1
        }
        guard index < bytes.endIndex else { return nil }
        return Substring(decoding: bytes[(start + 1)..<index], as: UTF8.self)
    }

    /// The integer value of the first `"key":123`.
    func integer(_ key: StaticString) -> Int64? {
        guard var index = valueStart(key) else { return nil }
        var negative = false
        if index < bytes.endIndex, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        var value: Int64 = 0
        var digits = 0
        while index < bytes.endIndex, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            value = value &* 10 &+ Int64(bytes[index] - UInt8(ascii: "0"))
            index += 1
            digits += 1
        }
        guard digits > 0 else { return nil }
        return negative ? -value : value
    }

    /// The leading decimal digits of the first `"key":"123…"` string value (the send time the
    /// harness puts at the start of each message's content).
    func leadingNumber(inString key: StaticString) -> UInt64? {
        guard let start = valueStart(key), start < bytes.endIndex, bytes[start] == UInt8(ascii: "\"") else { return nil }
        var index = start + 1
        var value: UInt64 = 0
        var digits = 0
        while index < bytes.endIndex, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            value = value &* 10 &+ UInt64(bytes[index] - UInt8(ascii: "0"))
            index += 1
            digits += 1
        }
        return digits > 0 ? value : nil
    }

    /// The index just past `"key":`.
    private func valueStart(_ key: StaticString) -> Int? {
        let pattern = key.withUTF8Buffer { Array($0) }
        let count = pattern.count
        guard bytes.count >= count + 3 else { return nil }
        var index = bytes.startIndex
        let last = bytes.endIndex - count - 3
        while index <= last {
            if bytes[index] == UInt8(ascii: "\""), bytes[index + count + 1] == UInt8(ascii: "\""), bytes[index + count + 2] == UInt8(ascii: ":") {
                var matched = true
                for offset in 0..<count where bytes[index + 1 + offset] != pattern[offset] {
                    matched = false
                    break
                }
                if matched { return index + count + 3 }
            }
            index += 1
        }
        return nil
    }
}

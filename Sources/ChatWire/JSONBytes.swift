/// JSON written straight into one byte array: members in the order written, nothing between tokens,
/// strings escaped exactly as Foundation's `JSONEncoder` (with `.withoutEscapingSlashes`) escapes
/// them (quotes, backslashes and control characters; everything else as is), integers in decimal. For
/// the bytes the send path makes once per message (``EncodedMessage``) without Foundation's encoder.
///
/// Guarantees: the bytes are valid JSON when every `open` is matched by its `close` and each member
/// has one value; `MessageBodyJSONTests` compares strings with `JSONEncoder`'s byte for byte and a
/// whole entry with its value (`JSONEncoder` orders members as its dictionary does).
struct JSONBytes {
    private(set) var bytes: [UInt8]
    /// Whether the next member or element is the first of its object or array (no comma before it).
    private var first = true

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func openObject() { open(UInt8(ascii: "{")) }
    mutating func closeObject() { close(UInt8(ascii: "}")) }
    mutating func openArray() { open(UInt8(ascii: "[")) }
    mutating func closeArray() { close(UInt8(ascii: "]")) }

    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        first = true
    }

    private mutating func close(_ bracket: UInt8) {
        bytes.append(bracket)
        first = false
    }

    /// `"name":` (after a comma unless first); the member's value comes next.
    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        first = true
    }

    mutating func integer(_ value: Int64) {
        separate()
        bytes.append(contentsOf: String(value).utf8)
        first = false
    }

    /// Bytes that are one JSON value already.
    mutating func value(_ json: [UInt8]) {
        separate()
        bytes.append(contentsOf: json)
        first = false
    }

    /// A member `"name":"text"`, left out when `text` is nil.
    mutating func member(_ name: StaticString, _ text: String?) {
        guard let text else { return }
        key(name)
        string(text)
    }

    /// A member `"name":value`, left out when `value` is nil.
    mutating func member(_ name: StaticString, _ value: Int64?) {
        guard let value else { return }
        key(name)
        integer(value)
    }

    mutating func string(_ text: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), byte])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x00..<0x20:
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(contentsOf: [Self.hex[Int(byte >> 4)], Self.hex[Int(byte & 0x0F)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
        first = false
    }

    private static let hex = Array("0123456789abcdef".utf8)

    /// A comma before every member or element but the first.
    private mutating func separate() {
        if !first { bytes.append(UInt8(ascii: ",")) }
    }
}

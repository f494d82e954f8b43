import ChatCore
import Testing

@testable import ChatWire

/// The frames the send path reads without Foundation's decoder read exactly as through it: whenever
/// the quick path answers, its answer is the general path's, over hand-picked edge cases and over
/// frames mutated at random (seeded, so a failure repeats); and the frames clients send most do take
/// the quick path.
@Suite struct QuickDecodeTests {
    static let common = [
        #"{"type":"message.send","id":"a1","payload":{"conversation":"c_1","client_id":"k-1","content":"hi there"}}"#,
        #"{"type":"message.send","id":17,"payload":{"conversation":"c_1","client_id":"k","kind":"image","content":"x","metadata":null}}"#,
        #"{"payload":{"content":"caf\u00e9 \ud83c\udf89 \"q\" \\ \/ \b\f\n\r\t","client_id":"k","conversation":"c_1"},"type":"message.send"}"#,
        #"{ "type" : "receipt.mark" , "payload" : { "conversation" : "c_1" , "read" : 4 , "delivered" : null } }"#,
        #"{"type":"receipt.mark","id":-3,"payload":{"conversation":"c_1","delivered":9223372036854775807}}"#,
        #"{"type":"typing","payload":{"conversation":"c_1"}}"#,
        #"{"type":"ping","id":"p"}"#,
        #"{"type":"ping","id":null,"payload":[1,{"a":[]}]}"#,
        // Refused the same way by both: a bad client id, a negative watermark, a bad conversation id.
        #"{"type":"message.send","id":"b","payload":{"conversation":"c_1","client_id":"has space","content":"x"}}"#,
        #"{"type":"receipt.mark","id":"r","payload":{"conversation":"c_1","read":-1}}"#,
        #"{"type":"typing","id":"t","payload":{"conversation":"not valid!"}}"#,
    ]

    /// Left to the general path (each differs from a common frame in one way).
    static let unusual = [
        #"{"type":"message.send","id":"a","payload":{"conversation":"c_1","client_id":"k","content":"x","extra":1}}"#,
        #"{"type":"message.send","id":"a","id":"b","payload":{"conversation":"c_1","client_id":"k","content":"x"}}"#,
        #"{"type":"message.send","payload":{"conversation":"c_1","client_id":"k","content":"x","metadata":{"a":1}}}"#,
        #"{"type":"message.send","payload":{"conversation":"c_1","client_id":"k","content":"x","kind":"bogus"}}"#,
        #"{"type":"message.send","payload":{"conversation":"c_1","content":"x"}}"#,
        #"{"type":"message.send","payload":{"conversation":"c_1","client_id":"k","content":"\ud800"}}"#,
        #"{"type":"message.send","id":1.5,"payload":{"conversation":"c_1","client_id":"k","content":"x"}}"#,
        #"{"type":"message.send","id":-0,"payload":{"conversation":"c_1","client_id":"k","content":"x"}}"#,
        #"{"type":"message.send","id":1e2,"payload":{"conversation":"c_1","client_id":"k","content":"x"}}"#,
        #"{"type":"receipt.mark","payload":{"conversation":"c_1","read":9223372036854775808}}"#,
        #"{"type":"receipt.mark","payload":{"conversation":"c_1","read":"4"}}"#,
        #"{"type":"typing","payload":{"conversation":null}}"#,
        #"{"type":"message.send","payload":null}"#,
        #"{"type":"message.history","payload":{"conversation":"c_1"}}"#,
        #"{"type":"ping"} x"#,
        "\u{FEFF}{\"type\":\"ping\"}",
        #"{"type":"ping","id":"\#(String(repeating: "i", count: 129))"}"#,
    ]

    @Test func theCommonFramesTakeTheQuickPathAndReadAsTheGeneralOne() {
        for text in Self.common {
            let bytes = Array(text.utf8)
            let quick = FrameCodec.quickDecode(bytes)
            #expect(quick != nil, "\(text)")
            #expect(quick == FrameCodec.decodeWithFoundation(bytes), "\(text)")
        }
    }

    @Test func theUnusualOnesAreLeftToTheGeneralPath() {
        for text in Self.unusual {
            #expect(FrameCodec.quickDecode(Array(text.utf8)) == nil, "\(text)")
            #expect(FrameCodec.decode(Array(text.utf8)) == FrameCodec.decodeWithFoundation(Array(text.utf8)), "\(text)")
        }
    }

    @Test func mutatedFramesReadAsTheGeneralPathReadsThem() {
        var random = SplitMix(seed: 0x5EED_F00D)
        let alphabet = Array(#"{}[]":,\/ 0123456789-+.eEtrufalsnbu"#.utf8) + [0x00, 0x1F, 0x7F, 0xC3, 0xA9, 0xFF]
        var quick = 0
        for round in 0..<20_000 {
            let seed = Self.common[round % Self.common.count]
            var bytes = Array(seed.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                let at = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[at] = alphabet.randomElement(using: &random)!
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet.randomElement(using: &random)!, at: at)
                }
                if bytes.isEmpty { bytes = [UInt8(ascii: "{")] }
            }
            guard let answer = FrameCodec.quickDecode(bytes) else { continue }
            quick += 1
            let general = FrameCodec.decodeWithFoundation(bytes)
            #expect(answer == general, "\(String(decoding: bytes, as: UTF8.self))")
            if answer != general { return }
        }
        // Enough mutations keep a frame readable (in a string's content, say) for this to mean something.
        #expect(quick > 500)
    }

    @Test func theScannerRefusesWhatIsNotJSON() {
        for text in ["", " ", "{", "{\"a\"}", "{\"a\":}", "[1,]", "{\"a\":1,}", "01", "1.", "-", "1e", "+1", "tru", "nul", "\"\u{1}\"", "\"\\x\"", "\"\\u12\"", "[1] 2"] {
            #expect(JSONScanner.parse(Array(text.utf8)) == nil, "\(text)")
        }
        #expect(JSONScanner.parse(Array(#" [1, -0.5e+3, "a\u00e9", true, false, null, {}] "#.utf8))
            == .array([.number("1"), .number("-0.5e+3"), .string("aé"), .bool(true), .bool(false), .null, .object([])]))
        let deep = String(repeating: "[", count: JSONScanner.maxDepth + 1) + String(repeating: "]", count: JSONScanner.maxDepth + 1)
        #expect(JSONScanner.parse(Array(deep.utf8)) == nil)
        let shallow = String(repeating: "[", count: JSONScanner.maxDepth) + String(repeating: "]", count: JSONScanner.maxDepth)
        #expect(JSONScanner.parse(Array(shallow.utf8)) != nil)
    }
}

/// A seeded generator (SplitMix64), so a failing round can be replayed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

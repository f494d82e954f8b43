import NIOCore
import Testing

@testable import SwitchboardBench

/// The one-pass scanner reads what the harness needs from frames as the node writes them: keys in any
/// order, nested objects, escaped quotes in content, first occurrences only.
@Suite struct FrameScannerTests {
    @Test func readsAMessageWhateverTheKeyOrder() {
        let frames = [
            #"{"type":"message.new","payload":{"message":{"id":"m_1","conversation":"c_9","seq":42,"content":"1234 xx"}}}"#,
            #"{"payload":{"message":{"content":"1234 xx","seq":42,"conversation":"c_9","id":"m_1"}},"type":"message.new"}"#,
        ]
        for text in frames {
            let scanner = FrameScanner(ByteBuffer(string: text))
            #expect(scanner.string(.type, is: "message.new"))
            #expect(!scanner.string(.type, is: "message.ne"))
            #expect(scanner.string(.conversation) == "c_9")
            #expect(scanner.integer(.seq) == 42)
            #expect(scanner.leadingNumber(inString: .content) == 1234)
            #expect(scanner.string(.id) == "m_1")
        }
    }

    @Test func anEscapedQuoteInAValueDoesNotEndIt() {
        let text = #"{"type":"ack","re":"r1","payload":{"message":{"content":"say \"seq\":7 \\","seq":3}}}"#
        let scanner = FrameScanner(ByteBuffer(string: text))
        #expect(scanner.integer(.seq) == 3, "the seq inside the content is text, not a key")
        #expect(scanner.string(.content) == #"say \"seq\":7 \\"#)
        #expect(scanner.string(.re) == "r1")
    }

    @Test func readsTheFirstOccurrenceAndTypedValues() {
        let text = #"{"type":"ack","re":7,"payload":{"messages":[{"seq":4},{"seq":5},{"seq":6}],"has_more":true,"participants":["a","b"]}}"#
        let scanner = FrameScanner(ByteBuffer(string: text))
        #expect(scanner.integer(.seq) == 4)
        #expect(scanner.allIntegers(.seq) == [4, 5, 6])
        #expect(scanner.boolean(.hasMore) == true)
        #expect(scanner.strings(.participants) == ["a", "b"])
        #expect(scanner.string(.re) == nil, "a number is not a string")
        #expect(scanner.integer(.re) == 7)
        #expect(scanner.string(.code) == nil)
    }
}

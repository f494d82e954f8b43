import NIOCore
import Testing

@testable import RedisClient

/// hiredis's reader and formatter through our wrappers: every reply type, splits at every byte, bad bytes.
@Suite struct RESPCodecTests {
    static func read(_ chunks: [[UInt8]]) throws -> [RESPValue] {
        let reader = RESPReader()
        var replies: [RESPValue] = []
        for chunk in chunks {
            try chunk.withUnsafeBytes { try reader.feed($0) }
            while let reply = try reader.next() { replies.append(reply) }
        }
        return replies
    }

    static func bulk(_ text: String) -> RESPValue { .bulkString(ByteBuffer(string: text)) }

    /// One of each reply type, nested arrays, nil bulk and nil array, an empty bulk and binary bytes.
    static let stream = Array(
        ("+OK\r\n" + "-ERR wrong kind\r\n" + ":42\r\n" + ":-7\r\n" + "$5\r\nhello\r\n" + "$0\r\n\r\n" + "$-1\r\n" + "*-1\r\n"
            + "*0\r\n" + "*3\r\n:1\r\n*2\r\n$1\r\na\r\n*1\r\n$-1\r\n+inner\r\n" + "$4\r\n\0\r\n\u{7F}\r\n").utf8)
    static let expected: [RESPValue] = [
        .status("OK"), .error("ERR wrong kind"), .integer(42), .integer(-7), bulk("hello"), bulk(""), .null, .null, .array([]),
        .array([.integer(1), .array([bulk("a"), .array([.null])]), .status("inner")]),
        .bulkString(ByteBuffer(bytes: [0, 13, 10, 127])),
    ]

    @Test func everyReplyType() throws {
        #expect(try Self.read([Self.stream]) == Self.expected)
    }

    @Test func replySplitAtEveryByteBoundary() throws {
        for cut in 0...Self.stream.count {
            let replies = try Self.read([Array(Self.stream[..<cut]), Array(Self.stream[cut...])])
            #expect(replies == Self.expected, "split at byte \(cut)")
        }
        #expect(try Self.read(Self.stream.map { [$0] }) == Self.expected, "one byte at a time")
    }

    @Test func malformedReplyIsAProtocolViolation() throws {
        #expect(throws: RedisError.self) { try Self.read([Array("?what\r\n".utf8)]) }
        #expect(throws: RedisError.self) { try Self.read([Array("$abc\r\n".utf8)]) }
        #expect(throws: RedisError.self) { try Self.read([Array(":12x\r\n".utf8)]) }
    }

    @Test func encodesBinarySafeCommands() throws {
        var buffer = ByteBuffer()
        RESPEncoder.encode(["SET", "k", RedisArgument([0, 13, 10, 255]), RedisArgument([])], into: &buffer)
        let expected: [UInt8] = Array("*4\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\n".utf8) + [0, 13, 10, 255] + Array("\r\n$0\r\n\r\n".utf8)
        #expect(Array(buffer.readableBytesView) == expected)
    }

    @Test func backoffGrowsToItsCapWithJitter() {
        let backoff = RedisBackoff(base: .milliseconds(10), cap: .milliseconds(500))
        #expect(backoff.delay(after: 0, random: 1) == .milliseconds(10))
        #expect(backoff.delay(after: 3, random: 1) == .milliseconds(80))
        #expect(backoff.delay(after: 30, random: 1) == .milliseconds(500))
        #expect(backoff.delay(after: 3, random: 0.5) == .milliseconds(40))
        #expect(backoff.delay(after: 3, random: 0) == .zero)
    }

    @Test func parsesURLs() throws {
        let full = try RedisConfiguration(url: "rediss://app:s%40cret@cache.example:6380/3?ca=/etc/ca.pem")
        #expect(full.host == "cache.example" && full.port == 6380 && full.user == "app" && full.password == "s@cret")
        #expect(full.database == 3 && full.tls && full.caFile == "/etc/ca.pem")
        #expect(!full.description.contains("s@cret"))
        let passwordOnly = try RedisConfiguration(url: "redis://:pw@localhost")
        #expect(passwordOnly.user == nil && passwordOnly.password == "pw" && passwordOnly.port == 6379 && passwordOnly.database == 0)
        for bad in ["http://localhost", "redis://", "redis://host/x", "redis://host:0", "redis://host?foo=1"] {
            #expect(throws: RedisError.self, "\(bad)") { try RedisConfiguration(url: bad) }
        }
    }
}

import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The node's WebSocket pings (``KeepAlive``) on a real node: a client that leaves a ping unanswered for
/// one interval is closed with 1001. The socket sends no token and the auth deadline is far away:
/// pings run from the upgrade on, and nothing else (a registration that a loaded machine delays or
/// refuses) can close it. That a client that answers is never pinged out is ``KeepAliveTimerTests``'s,
/// on the event loop's own clock: on a real clock it depends on the client answering within the
/// interval, which a loaded machine does not promise.
@Suite struct KeepAliveTests {
    static func node() -> TestNode {
        TestNode {
            $0.server.pingInterval = .milliseconds(200)
            $0.limits.authDeadline = .seconds(600)
        }
    }

    @Test func aClientThatLeavesAPingUnansweredIsClosedWith1001() async throws {
        try await Self.node().run { url in
            let fd = try await Self.open(url: url, user: nil)
            defer { close(fd) }
            let (opcodes, closeCode, ended) = try await RawWebSocket.blocking {
                var opcodes: [UInt8] = [], closeCode: Int?
                let read = RawWebSocket.stream(fd) { opcode, payload in
                    opcodes.append(opcode)
                    if opcode == 0x8 { closeCode = RawWebSocket.closeCode(payload) }
                    return opcode == 0x8
                }
                return (opcodes, closeCode, read.ended || RawWebSocket.stream(fd, afterHead: false) { _, _ in false }.ended)
            }
            #expect(opcodes == [0x9, 0x8], "pinged, then closed")
            #expect(closeCode == 1001, "going away")
            #expect(ended, "and the socket is closed")
        }
    }

    /// A WebSocket, authenticated by its upgrade request when `user` is given; the caller reads
    /// everything from the HTTP head on.
    static func open(url: String, user: String?, timeoutSeconds: Int = 10) async throws -> Int32 {
        let port = Int(url.split(separator: ":").last!)!
        let headers = if let user { ["Authorization": "Bearer \(try await TestNode.token(user))"] } else { [String: String]() }
        return try await RawWebSocket.blocking {
            try RawWebSocket.open(port: port, path: "/v1/ws", headers: headers, timeoutSeconds: timeoutSeconds)
        }
    }
}

/// A close the node starts (here the auth deadline's 4001): its close frame comes after what was
/// queued before it, it is the last frame written, and the client's answering close ends the
/// connection at once; a client that never answers is dropped after the close timeout.
@Suite struct CloseHandshakeTests {
    @Test func aClientThatAnswersTheCloseIsDisconnectedAtOnceAfterOneCloseFrame() async throws {
        // A close timeout far longer than the test: only the answer can end the connection.
        let node = TestNode {
            $0.limits.authDeadline = .milliseconds(100)
            $0.server.closeTimeout = .seconds(600)
        }
        try await node.run { url in
            let fd = try await KeepAliveTests.open(url: url, user: nil, timeoutSeconds: 30)
            defer { close(fd) }
            let (before, after) = try await RawWebSocket.blocking {
                var before: [(UInt8, Int?)] = []
                _ = RawWebSocket.stream(fd) { opcode, payload in
                    before.append((opcode, opcode == 0x8 ? RawWebSocket.closeCode(payload) : nil))
                    if opcode == 0x8 {
                        // The client's answer: a masked close frame with the same code.
                        let answer: [UInt8] = [0x88, 0x82, 0, 0, 0, 0] + payload.prefix(2)
                        _ = answer.withUnsafeBytes { send(fd, $0.baseAddress, answer.count, 0) }
                    }
                    return opcode == 0x8
                }
                var after: [UInt8] = []
                let ended = RawWebSocket.stream(fd, afterHead: false) { opcode, _ in
                    after.append(opcode)
                    return false
                }.ended
                return (before, ended ? after : [0xFF])
            }
            #expect(before.map(\.0) == [0x1, 0x8], "the error frame, then the close frame")
            #expect(before.last?.1 == 4001)
            #expect(after.isEmpty, "nothing after the close frame, and the socket closed (not timed out)")
        }
    }

    @Test func aClientThatNeverAnswersTheCloseIsDroppedAfterTheCloseTimeout() async throws {
        let node = TestNode {
            $0.limits.authDeadline = .milliseconds(100)
            $0.server.closeTimeout = .milliseconds(200)
        }
        try await node.run { url in
            let fd = try await KeepAliveTests.open(url: url, user: nil, timeoutSeconds: 30)
            defer { close(fd) }
            let (codes, ended) = try await RawWebSocket.blocking {
                var codes: [Int] = []
                let ended = RawWebSocket.stream(fd) { opcode, payload in
                    if opcode == 0x8, let code = RawWebSocket.closeCode(payload) { codes.append(code) }
                    return false
                }.ended
                return (codes, ended)
            }
            #expect(codes == [4001], "one close frame")
            #expect(ended, "then the socket closed without the client's answer")
        }
    }
}

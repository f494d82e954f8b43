import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A bare WebSocket handshake over a TCP socket, reading everything the server sends until it closes
/// the connection or sends a close frame. It checks what the server writes independently of any
/// client library (frames that follow the 101 in the same packet are read like any others).
enum RawWebSocket {
    struct Reply {
        var status: String
        var frames: [(opcode: UInt8, payload: [UInt8])]

        /// The close code of the close frame, if one came.
        var closeCode: Int? {
            frames.first { $0.opcode == 0x8 }.flatMap { RawWebSocket.closeCode($0.payload) }
        }

        /// Text frames as strings.
        var texts: [String] { frames.filter { $0.opcode == 0x1 }.map { String(decoding: $0.payload, as: UTF8.self) } }
    }

    /// Connects to 127.0.0.1:`port`, sends an upgrade request for `path` with `headers`, and reads the reply.
    /// The blocking socket calls run on a thread of their own (``blocking(_:)``).
    static func upgrade(port: Int, path: String, headers: [String: String] = [:], timeoutSeconds: Int = 5) async throws -> Reply {
        try await blocking {
            let fd = try open(port: port, path: path, headers: headers, timeoutSeconds: timeoutSeconds)
            defer { close(fd) }
            return read(fd) { $0.closeCode != nil }
        }
    }

    /// Runs blocking calls (a socket's, a pipe's) on a thread of their own. Not on the concurrency
    /// pool's threads nor on Dispatch's global queue: both have about as many threads as cores, and the
    /// nodes under test run in the same process (the embedded store's GRDB queues run on Dispatch's
    /// threads), so a read that blocks for seconds there stalls every node of every test running beside
    /// it.
    static func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try work() }) }.start()
        }
    }

    /// The code of a close frame's payload, if it has one.
    static func closeCode(_ payload: [UInt8]) -> Int? {
        payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil
    }

    /// Connects and sends the upgrade request; the caller reads (or, to play a slow consumer, does not).
    /// `receiveBuffer` shrinks the kernel's receive buffer when given.
    static func open(port: Int, path: String, headers: [String: String], timeoutSeconds: Int = 5, receiveBuffer: Int32? = nil) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if var size = receiveBuffer { setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size)) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        _ = request.withCString { send(fd, $0, strlen($0), 0) }
        return fd
    }

    /// Reads until `done` holds for what arrived, the peer closes, or the read times out.
    static func read(_ fd: Int32, until done: (Reply) -> Bool) -> Reply {
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count <= 0 { break }
            data += buffer[0..<count]
            if let reply = parse(data), done(reply) { return reply }
        }
        return parse(data) ?? Reply(status: "", frames: [])
    }

    /// Reads frames as they arrive, parsing each byte once (a slow consumer's backlog runs to megabytes),
    /// until `done` holds for a frame, the peer closes (`ended` is then true) or the read times out.
    /// `afterHead` is false for a later read on a socket whose HTTP head an earlier one consumed.
    static func stream(_ fd: Int32, afterHead: Bool = true, until done: (_ opcode: UInt8, _ payload: [UInt8]) -> Bool) -> (frames: Int, ended: Bool) {
        var data: [UInt8] = []
        var index = 0
        var headSeen = !afterHead
        var frames = 0
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = recv(fd, &buffer, buffer.count, 0)
            if count == 0 { return (frames, true) }
            if count < 0 { return (frames, false) }
            data += buffer[0..<count]
            if !headSeen {
                guard let end = headEnd(data) else { continue }
                headSeen = true
                index = end
            }
            while let (opcode, payload, next) = frame(in: data, at: index) {
                index = next
                frames += 1
                if done(opcode, payload) { return (frames, false) }
            }
            if index > 1 << 20 {
                data.removeFirst(index)
                index = 0
            }
        }
    }

    /// Writes one client frame (masked, as a client's must be) with a payload under 126 bytes.
    static func sendMasked(_ fd: Int32, opcode: UInt8, payload: [UInt8]) {
        let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        var frame: [UInt8] = [0x80 | opcode, 0x80 | UInt8(payload.count)] + mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        _ = frame.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    }

    /// The offset just past the HTTP head, once it is complete.
    static func headEnd(_ data: [UInt8]) -> Int? {
        guard data.count >= 4 else { return nil }
        return (0...data.count - 4).first { data[$0] == 13 && data[$0 + 1] == 10 && data[$0 + 2] == 13 && data[$0 + 3] == 10 }.map { $0 + 4 }
    }

    /// The unmasked server frame starting at `index`, if it has fully arrived, and where the next starts.
    static func frame(in data: [UInt8], at index: Int) -> (UInt8, [UInt8], Int)? {
        guard index + 2 <= data.count else { return nil }
        let opcode = data[index] & 0x0F
        var length = Int(data[index + 1] & 0x7F)
        var start = index + 2
        if length == 126 {
            guard start + 2 <= data.count else { return nil }
            length = Int(data[start]) << 8 | Int(data[start + 1])
            start += 2
        } else if length == 127 {
            guard start + 8 <= data.count else { return nil }
            length = (0..<8).reduce(0) { $0 << 8 | Int(data[start + $1]) }
            start += 8
        }
        guard start + length <= data.count else { return nil }
        return (opcode, Array(data[start..<start + length]), start + length)
    }

    /// Splits the HTTP head from the frames after it; nil while the head is incomplete.
    static func parse(_ data: [UInt8]) -> Reply? {
        guard let end = headEnd(data) else { return nil }
        let head = String(decoding: data[..<(end - 4)], as: UTF8.self)
        var frames: [(UInt8, [UInt8])] = []
        var index = end
        while let (opcode, payload, next) = frame(in: data, at: index) {
            frames.append((opcode, payload))
            index = next
        }
        return Reply(status: String(head.prefix { $0 != "\r" }), frames: frames)
    }
}

import ChatCore
import ChatWire
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The Swift SDK for a Switchboard node: a WebSocket connection scoped to a closure, and the REST API.
///
/// ```swift
/// let client = ChatClient(baseURL: "http://127.0.0.1:8080", token: token)
/// try await client.withConnection { connection in
///     let direct = try await connection.createDirect(with: "bob")
///     _ = try await connection.send("hi", to: direct.conversation.id)
/// }
/// ```
public struct ChatClient: Sendable {
    public let baseURL: String
    public let token: String
    public var webSocketPath = "/v1/ws"
    public var maxEvents = 100_000
    let logger: Logger

    public init(baseURL: String, token: String, logger: Logger = Logger(label: "switchboard.client")) {
        self.baseURL = baseURL
        self.token = token
        self.logger = logger
    }

    /// Opens a WebSocket, waits for `welcome` (unless `auth` is `.none`), runs `body`, then closes.
    /// With `.frame` (the default), the client sends the `auth` frame itself before `body` runs. A refusal
    /// (an `error` frame before `welcome`) is thrown as the server's ``ChatError``.
    /// `resume` (with `.frame` auth) names the last seq seen per conversation: the node first sends
    /// everything after those, then live entries (see ``ChatConnection/positions``).
    public func withConnection<T: Sendable>(
        auth: TokenTransport = .frame, resume: [String: Int64]? = nil, _ body: @Sendable (ChatConnection) async throws -> T
    ) async throws -> T {
        let connection = ChatConnection(maxEvents: maxEvents)
        var url = baseURL.replacingOccurrences(of: "http://", with: "ws://").replacingOccurrences(of: "https://", with: "wss://")
        url += webSocketPath
        var headers = HTTPFields()
        switch auth {
        case .header: headers[.authorization] = "Bearer \(token)"
        case .query: url += "?token=\(token)"
        case .frame, .none: break
        }
        let configuration = WebSocketClientConfiguration(maxFrameSize: 1 << 22, additionalHeaders: headers)
        let target = url
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { [logger] in
                do {
                    let close = try await WebSocketClient.connect(url: target, configuration: configuration, logger: logger) { inbound, outbound, _ in
                        connection.attach(outbound)
                        for try await message in inbound.messages(maxSize: 1 << 24) {
                            if case .text(let text) = message { connection.received(text) }
                        }
                    }
                    connection.finished(close)
                } catch {
                    connection.finished(nil)
                    throw error
                }
            }
            let deadline = ContinuousClock.now.advanced(by: .seconds(10))
            while !connection.isAttached {
                guard ContinuousClock.now < deadline else { throw ChatError.unavailable("could not connect to \(url)") }
                try await Task.sleep(for: .milliseconds(2))
            }
            if auth == .frame { try await connection.authenticate(token: token, resume: resume) }
            if auth != .none {
                while !connection.events.contains(where: { $0.type == EventType.welcome.rawValue }) {
                    // A refused token is answered with an error frame before the close: report it at once
                    // rather than waiting for the close handshake to finish.
                    if let refusal = connection.events.first(where: { $0.type == EventType.error.rawValue }),
                        let body = try? refusal.payload(ErrorBody.self)
                    {
                        throw ChatError(ChatError.Code(rawValue: body.code) ?? .internal, body.message)
                    }
                    if connection.isClosed { throw ChatError.unauthorized("closed before welcome (code \(connection.closeCode ?? 0))") }
                    guard ContinuousClock.now < deadline else { throw ChatError.unavailable("no welcome from \(url)") }
                    try await Task.sleep(for: .milliseconds(2))
                }
            }
            do {
                let result = try await body(connection)
                await connection.close()
                try await group.waitForAll()
                return result
            } catch {
                await connection.close()
                group.cancelAll()
                throw error
            }
        }
    }

    // MARK: REST

    /// One REST call; returns the status and body. Throws only when the node cannot be reached.
    public func call(_ method: String, _ path: String, body: (any Encodable & Sendable)? = nil, token: String? = nil) async throws
        -> (status: Int, body: Data)
    {
        guard let url = URL(string: baseURL + path) else { throw ChatError.validation("bad URL \(baseURL + path)") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        let token = token ?? self.token
        if !token.isEmpty {
            request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        }
        if let body {
            request.httpBody = try JSONEncoder().encode(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }

    /// A REST call whose success body decodes as `R`; an error body throws its ``ChatError``.
    public func rest<R: Decodable>(_ method: String, _ path: String, body: (any Encodable & Sendable)? = nil, as type: R.Type) async throws -> R {
        let (status, data) = try await call(method, path, body: body)
        guard (200..<300).contains(status) else {
            let error = try? JSONDecoder().decode(ErrorResponse.self, from: data)
            throw ChatError(ChatError.Code(rawValue: error?.error.code ?? "") ?? .internal, error?.error.message ?? "HTTP \(status)")
        }
        return try JSONDecoder().decode(R.self, from: data)
    }
}

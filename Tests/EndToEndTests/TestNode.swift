import ChatClient
import ChatCore
import ChatServer
import ChatTesting
import Foundation
import Logging
import NodeBootstrap
import TestServers

/// A real node on a free loopback port, with its own data directory, for one test. With
/// `SWITCHBOARD_TEST_STORE=postgres` (the second pass of `make test`) the node keeps its data in a fresh
/// database of its own on the throwaway PostgreSQL server instead of SQLite.
struct TestNode {
    static let secret = "end-to-end-test-secret-of-at-least-32-bytes"
    static let onPostgres = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_STORE"] == "postgres"
    let directory: String
    /// The database name the node uses on PostgreSQL (created on the first run).
    let databaseName = "sb_e2e_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
    var configuration: NodeConfiguration
    /// The node's wall clock: the system's, unless a test drives time itself.
    var clock: any WallClock = SystemWallClock()

    init(configure: (inout NodeConfiguration) -> Void = { _ in }) {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-e2e-\(UUID().uuidString)").path
        configuration = NodeConfiguration()
        configuration.server.port = 0
        configuration.dataDirectory = directory
        configuration.authSecret = Self.secret
        // Tests send fast on purpose; the rate limit has its own test.
        configuration.limits.messagesPerSecond = 100_000
        configuration.limits.messageBurst = 100_000
        configuration.drainGrace = .milliseconds(500)
        // Most tests' clients do not mark deliveries, and count what they receive: redelivery (on by
        // default) would send them entries again after a while. Its own tests turn it on.
        configuration.redeliverDelay = nil
        configure(&configuration)
    }

    /// Starts the node, runs `body` with its base URL, then shuts it down gracefully and removes its
    /// data directory, unless `keepingData` (a restart test runs the node again on it).
    func run<T: Sendable>(keepingData: Bool = false, _ body: @Sendable (String) async throws -> T) async throws -> T {
        try await run(keepingData: keepingData) { url, _ in try await body(url) }
    }

    /// ``run(keepingData:_:)`` with the running ``Node`` too.
    func run<T: Sendable>(keepingData: Bool = false, _ body: @Sendable (String, Node) async throws -> T) async throws -> T {
        var configuration = configuration
        var database: TestDatabase?
        if Self.onPostgres, configuration.databaseURL == nil {
            database = try await TestPostgres.database(named: databaseName)
            configuration.databaseURL = database?.url
        }
        defer { if !keepingData { try? FileManager.default.removeItem(atPath: directory) } }
        do {
            let result = try await run(configuration, body)
            if !keepingData { await database?.drop() }
            return result
        } catch {
            if !keepingData { await database?.drop() }
            throw error
        }
    }

    private func run<T: Sendable>(_ configuration: NodeConfiguration, _ body: @Sendable (String, Node) async throws -> T) async throws -> T {
        var logger = Logger(label: "e2e")
        logger.logLevel = .warning
        let node = try await Node(configuration: configuration, logger: logger, clock: clock)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await node.run() }
            guard let port = await node.port() else { throw ConformanceFailure(message: "node did not start", file: #filePath, line: #line) }
            do {
                let result = try await body("http://127.0.0.1:\(port)", node)
                await node.shutdown()
                try await group.waitForAll()
                return result
            } catch {
                await node.shutdown()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    static func token(_ user: String, roles: [String]? = nil, expiresIn seconds: TimeInterval = 3600, secret: String = secret) async throws
        -> String
    {
        try await token(user, roles: roles, expires: Date().addingTimeInterval(seconds), secret: secret)
    }

    /// A token that expires at `expires` (JWT keeps whole seconds).
    static func token(_ user: String, roles: [String]? = nil, expires: Date, secret: String = secret) async throws -> String {
        try await JWTAuthenticator(keys: .hmac(secret: secret)).mint(
            ChatClaims(user: user, name: user.capitalized, roles: roles, expires: expires))
    }

    static func client(_ url: String, _ user: String, roles: [String]? = nil) async throws -> ChatClient {
        ChatClient(baseURL: url, token: try await token(user, roles: roles))
    }
}

/// Waits until `connection` has received messages whose contents are `expected`, in that order.
func waitForMessages(_ connection: ChatConnection, _ expected: [String], file: StaticString = #filePath, line: UInt = #line) async throws {
    // The description is built at the timeout: it shows what did arrive.
    try await eventually("messages \(expected), got \(connection.receivedMessages.map { "\($0.content)#\($0.seq)" })", file: file, line: line) {
        connection.receivedMessages.map(\.content) == expected
    }
}

import Foundation
import Logging
import NIOPosix
import PostgresEngine
import PostgresNIO

/// A test needs a server that `make test` starts and says where it is in an environment variable.
public struct TestServerMissing: Error, CustomStringConvertible {
    public let variable: String
    public var description: String {
        "\(variable) is not set: run the suite with `make test`, which starts throwaway PostgreSQL servers and sets it"
    }
}

/// The throwaway PostgreSQL server `make test` starts (`scripts/postgres.sh`): each test takes a fresh,
/// empty database of its own on it and drops it afterwards, so tests running in parallel never meet.
public enum TestPostgres {
    /// The server's URL (a database every server has), from `SWITCHBOARD_TEST_DATABASE_URL`.
    public static func serverURL(variable: String = "SWITCHBOARD_TEST_DATABASE_URL") throws -> String {
        guard let url = ProcessInfo.processInfo.environment[variable], !url.isEmpty else { throw TestServerMissing(variable: variable) }
        return url
    }

    /// Creates an empty database with a unique name on the server at `serverURL`.
    public static func createDatabase(on serverURL: String? = nil) async throws -> TestDatabase {
        try await database(named: "sb_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20))", on: serverURL)
    }

    /// The database `name` (letters, digits and underscores only), created when missing: a test that runs
    /// a node twice on the same data finds it again.
    public static func database(named name: String, on serverURL: String? = nil) async throws -> TestDatabase {
        precondition(name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }, "a plain database name")
        let server = try serverURL ?? self.serverURL()
        // The name is checked above to be a plain identifier: safe to splice into the statement.
        try await admin(server) { connection, logger in
            let existing = try await connection.query("SELECT 1 FROM pg_database WHERE datname = \(name)", logger: logger).collect()
            if existing.isEmpty { try await connection.query("CREATE DATABASE \(unescaped: name)", logger: logger) }
        }
        return TestDatabase(name: name, server: server)
    }

    static func admin(_ server: String, _ body: (PostgresConnection, Logger) async throws -> Void) async throws {
        let settings = try DatabaseSettings(url: server)
        let logger = Logger(label: "test-postgres")
        let connection = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.any(),
            configuration: .init(
                host: settings.host, port: settings.port, username: settings.user, password: settings.password,
                database: settings.database, tls: .disable),
            id: 1, logger: logger)
        do {
            try await body(connection, logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}

/// One test's own database.
public struct TestDatabase: Sendable {
    public let name: String
    let server: String

    /// The database's URL.
    public var url: String {
        var components = URLComponents(string: server)!
        components.path = "/" + name
        return components.string!
    }

    public var settings: DatabaseSettings {
        get throws { try DatabaseSettings(url: url) }
    }

    /// Drops the database, ending any session still connected to it.
    public func drop() async {
        try? await TestPostgres.admin(server) { connection, logger in
            try await connection.query("DROP DATABASE IF EXISTS \(unescaped: name) WITH (FORCE)", logger: logger)
        }
    }
}

/// The second throwaway server `make test` starts, for the test that stops and restarts PostgreSQL under
/// load; nothing else uses it.
public enum OutagePostgres {
    public static func serverURL() throws -> String {
        try TestPostgres.serverURL(variable: "SWITCHBOARD_TEST_OUTAGE_DATABASE_URL")
    }

    /// Stops the server (fast shutdown: sessions end, committed work stays), by the pid it recorded.
    public static func stop() async throws { try await control("stop") }

    /// Starts it again on the same data and port, and returns once it accepts connections.
    public static func start() async throws { try await control("restart") }

    static func control(_ action: String) async throws {
        let environment = ProcessInfo.processInfo.environment
        guard let script = environment["SWITCHBOARD_TEST_POSTGRES_SCRIPT"] else {
            throw TestServerMissing(variable: "SWITCHBOARD_TEST_POSTGRES_SCRIPT")
        }
        guard let directory = environment["SWITCHBOARD_TEST_OUTAGE_DIR"] else {
            throw TestServerMissing(variable: "SWITCHBOARD_TEST_OUTAGE_DIR")
        }
        try await ServerScript.run(script, action, directory)
    }
}

/// Runs one of the repo's server scripts (`scripts/postgres.sh`, `scripts/redis.sh`).
enum ServerScript {
    static func run(_ script: String, _ action: String, _ directory: String, _ more: String...) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [script, action, directory] + more
        // The server the script starts outlives it (it is re-parented, never our child); what we wait for
        // is the script's own exit, polled because nothing else here runs a run loop for Process.
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
        let status = process.terminationStatus
        guard status == 0 else { throw ScriptFailed(script: script, action: action, status: status) }
    }

    struct ScriptFailed: Error, CustomStringConvertible {
        let script: String
        let action: String
        let status: Int32
        var description: String { "\(script) \(action) exited with \(status)" }
    }
}

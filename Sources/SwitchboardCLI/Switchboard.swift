import ArgumentParser
import ChatCore
import ChatServer
import Configuration
import Foundation
import Logging
import NodeBootstrap
import PostgresEngine

/// The `switchboard` command: run a node, or mint a token with the node's key.
@main
struct Switchboard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A chat backend whose identical, stateless nodes scale out.",
        subcommands: [Serve.self, Token.self, Migrate.self],
        defaultSubcommand: Serve.self
    )
}

/// Options every subcommand shares: a configuration file and any configuration key as a flag.
struct ConfigOptions: ParsableArguments {
    @Option(name: .customLong("config"), help: "A JSON configuration file (keys nest: {\"http\": {\"port\": 8080}}).")
    var file: String?

    @Argument(parsing: .allUnrecognized, help: "Any configuration key as a flag: --http-port 9000, --data-dir ./data, … (see the README).")
    var keys: [String] = []

    /// Flags first, then environment variables, then the file, then defaults.
    func reader() async throws -> ConfigReader {
        var providers: [any ConfigProvider] = [
            CommandLineArgumentsProvider(arguments: ["switchboard"] + keys),
            EnvironmentVariablesProvider(),
        ]
        if let file { providers.append(try await FileProvider<JSONSnapshot>(filePath: .init(file))) }
        return ConfigReader(providers: providers)
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a node (embedded SQLite engine by default).",
        discussion: ConfigKeys.all.map { "\($0.flag) / \($0.variable) (default \($0.defaultValue)): \($0.help)" }.joined(separator: "\n")
    )

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let configuration = try NodeConfiguration(reader: try await options.reader())
        let logger = makeLogger(configuration.logLevel)
        let node = try await Node(configuration: configuration, logger: logger, signals: [.sigterm, .sigint])
        try await node.run()
    }
}

struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Mint a token with the node's configured key.")

    @Option(help: "The user id (the token's sub).") var user: String
    @Option(help: "A display name.") var name: String?
    @Option(help: "Comma-separated roles.") var roles: String?
    @Option(help: "Lifetime in seconds.") var ttl: Int = 86_400
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        guard UserID(user) != nil else { throw ValidationError("'\(user)' is not a valid user id") }
        let configuration = try NodeConfiguration(reader: try await options.reader())
        let logger = makeLogger("warning")
        let authenticator = try await JWTAuthenticator(keys: Node.tokenKeys(configuration, logger: logger))
        let claims = ChatClaims(
            user: user, name: name, roles: roles.map { $0.split(separator: ",").map(String.init) },
            expires: Date().addingTimeInterval(TimeInterval(ttl)))
        print(try await authenticator.mint(claims))
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the PostgreSQL migrations (a node also applies them when it starts), or list them.",
        discussion: "Needs --database-url or DATABASE_URL. Safe to run while nodes start: migrations take an advisory lock."
    )

    @Flag(help: "List every migration and whether it is applied, without changing anything.") var status = false
    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let configuration = try NodeConfiguration(reader: try await options.reader())
        guard let settings = try configuration.databaseSettings else {
            throw ValidationError("no database: pass --database-url postgres://… or set DATABASE_URL")
        }
        let logger = makeLogger(configuration.logLevel)
        if status {
            for migration in try await Migrator.status(settings, logger: logger) {
                let state = migration.appliedAt.map { at in
                    let date = Date(timeIntervalSince1970: Double(at.milliseconds) / 1000)
                    return "applied \(date.ISO8601Format()) by \(migration.appliedBy ?? "?")"
                } ?? "pending"
                print(String(format: "%04d", migration.version), migration.name, state)
            }
            return
        }
        let applied = try await Migrator.migrate(settings, by: configuration.nodeID ?? "switchboard-migrate", logger: logger)
        print(applied.isEmpty ? "nothing to apply" : "applied \(applied.map(String.init).joined(separator: ", "))")
    }
}

func makeLogger(_ level: String) -> Logger {
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = Logger.Level(rawValue: level) ?? .info
        return handler
    }
    var logger = Logger(label: "switchboard")
    logger.logLevel = Logger.Level(rawValue: level) ?? .info
    return logger
}


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
        subcommands: [Serve.self, Token.self, Migrate.self, Jobs.self],
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

/// `switchboard jobs`: the cluster's job queue (on Redis) as an operator sees it.
struct Jobs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the job queue (depth by kind, the oldest due job, the dead letters), or retry or drop a dead letter.",
        discussion: "Needs the cluster's --redis-url (or REDIS_URL) and --redis-prefix: the embedded engine's queue lives in its node's memory.",
        subcommands: [Show.self, Retry.self, Drop.self],
        defaultSubcommand: Show.self
    )

    static func queue(_ options: ConfigOptions) async throws -> (queue: any JobQueue, close: @Sendable () -> Void) {
        // Only Redis is needed here: the rules a node's whole configuration must meet do not apply.
        let configuration = try NodeConfiguration(reader: try await options.reader(), validating: false)
        guard let shared = try Node.sharedJobQueue(configuration) else {
            throw ValidationError("no shared queue: pass the cluster's --redis-url (the embedded engine's queue lives in its node's memory)")
        }
        return shared
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Depth by kind, the oldest due job and the newest dead letters.")
        @Option(help: "Dead letters to list, newest last.") var limit: Int = 20
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let (queue, close) = try await Jobs.queue(options)
            defer { close() }
            let stats = try await queue.stats()
            let now = SystemWallClock().now()
            print("pending:", stats.pending.isEmpty ? "none" : stats.pending.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            if let due = stats.earliestDue {
                let wait = now.milliseconds - due.milliseconds
                print("oldest due:", wait >= 0 ? "due \(Double(wait) / 1000) s ago" : "next due in \(Double(-wait) / 1000) s")
            } else {
                print("oldest due: none")
            }
            print("dead letters: \(stats.deadLetters)")
            for job in try await queue.deadLetters(limit: limit) {
                print("  \(job.id)  kind \(job.kind)  attempts \(job.attempt + 1)  payload \(job.payload.count) bytes")
            }
        }
    }

    /// Acts on one dead letter by id and says what it did; an unknown id is an error.
    static func onDeadLetter(_ id: String, _ options: ConfigOptions, done: String, _ act: (any JobQueue) async throws -> Bool) async throws {
        let (queue, close) = try await queue(options)
        defer { close() }
        guard try await act(queue) else { throw ValidationError("no dead letter \(id)") }
        print("\(done) \(id)")
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put a dead letter back in the queue, due now, from its first attempt.")
        @Argument(help: "The dead letter's job id.") var id: String
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            try await Jobs.onDeadLetter(id, options, done: "requeued") { try await $0.requeueDeadLetter(id, due: SystemWallClock().now()) }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Forget a dead letter.")
        @Argument(help: "The dead letter's job id.") var id: String
        @OptionGroup var options: ConfigOptions

        func run() async throws {
            try await Jobs.onDeadLetter(id, options, done: "dropped") { try await $0.dropDeadLetter(id) }
        }
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


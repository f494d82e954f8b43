import ChatCore
import ChatTesting
import Foundation
import Logging
import PostgresEngine
import Testing
import TestServers

/// A migrated store on a fresh database with its pool running, and how to dispose of it.
struct RunningStore: Sendable {
    let store: PostgresStore
    let database: TestDatabase
    let pool: Task<Void, Never>

    static func start(on database: TestDatabase? = nil, poolSize: Int = 8) async throws -> RunningStore {
        let database = if let database { database } else { try await TestPostgres.createDatabase() }
        var settings = try database.settings
        settings.maxConnections = poolSize
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        try await Migrator.migrate(settings, by: "test", logger: logger)
        let store = try PostgresStore(settings: settings, logger: logger)
        // Owned by this value and awaited in `stop`: the store's pool must run while the test uses it.
        let pool = Task { await store.run() }
        return RunningStore(store: store, database: database, pool: pool)
    }

    /// Stops the pool; drops the database unless `keepingDatabase`.
    func stop(keepingDatabase: Bool = false) async {
        pool.cancel()
        await pool.value
        if !keepingDatabase { await database.drop() }
    }
}

/// The PostgreSQL store against the shared Store conformance suite, plus what only a shared server can
/// show: many clients at once, and migrations under concurrent starts.
@Suite struct PostgresStoreTests {
    static let storeFactory: StoreFactory = {
        let running = try await RunningStore.start()
        return StoreHarness(store: running.store) { await running.stop() }
    }

    @Test(arguments: StoreConformance.checks) func store(_ check: ConformanceCheck<StoreFactory>) async throws {
        try await check.run(Self.storeFactory)
    }

    /// Several store clients (as several nodes would be) send to one conversation at once; a third of the
    /// sends are also retried, concurrently, through another client with the same client id.
    @Test func concurrentSendersThroughSeveralClientsGetGapFreeSeqs() async throws {
        let first = try await RunningStore.start(poolSize: 4)
        var others: [RunningStore] = []
        for _ in 0..<3 { others.append(try await RunningStore.start(on: first.database, poolSize: 4)) }
        let clients = [first] + others
        let sender = UserID("ann")!
        let (conversation, _) = try await first.store.createDirect(
            id: RandomIDGenerator().conversationID(), between: sender, and: UserID("bob")!, workspace: nil, at: Timestamp(milliseconds: 1))
        let tasks = 16, perTask = 25
        let results = Recorder<(client: String, result: AppendResult)>()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    for index in 0..<perTask {
                        let client = "t\(task)-\(index)"
                        let draft = MessageDraft(
                            id: RandomIDGenerator().messageID(), conversation: conversation.id, sender: sender,
                            clientID: ClientMessageID(client)!, kind: .text, content: client, metadata: nil,
                            createdAt: Timestamp(milliseconds: 2))
                        let stores = index % 3 == 0
                            ? [clients[task % 4].store, clients[(task + 1) % 4].store] : [clients[task % 4].store]
                        try await withThrowingTaskGroup(of: AppendResult.self) { sends in
                            for store in stores { sends.addTask { try await store.append(draft) } }
                            for try await result in sends { results.record((client, result)) }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = tasks * perTask
        let page = try await first.store.messages(in: conversation.id, HistoryQuery(after: 0, limit: total + 10))
        #expect(page.messages.map(\.seq) == Array(1...Int64(total)), "seqs are exactly 1...N")
        #expect(Set(page.messages.map(\.clientID.rawValue)).count == total, "one row per client id: retries stored nothing")
        #expect(try await first.store.conversation(conversation.id)?.lastSeq == Int64(total))
        for (client, outcomes) in Dictionary(grouping: results.all, by: \.client).mapValues({ $0.map(\.result) }) {
            #expect(outcomes.filter(\.created).count == 1, "\(client) was created exactly once")
            #expect(Set(outcomes.map(\.message.seq)).count == 1, "every answer for \(client) names the same seq")
        }
        for client in clients.dropFirst() { await client.stop(keepingDatabase: true) }
        await first.stop()
    }

    /// Ten migrators at once on an empty database: one applies everything, the rest find it done.
    @Test func concurrentMigrationsRunOnce() async throws {
        let database = try await TestPostgres.createDatabase()
        let settings = try database.settings
        let applied = try await withThrowingTaskGroup(of: [Int].self) { group in
            for node in 0..<10 {
                group.addTask { try await Migrator.migrate(settings, by: "node-\(node)", logger: Logger(label: "test")) }
            }
            return try await group.reduce(into: [[Int]]()) { $0.append($1) }
        }
        #expect(applied.filter { !$0.isEmpty } == [Migrator.all.map(\.version)], "exactly one migrator applied the migrations")
        let status = try await Migrator.status(settings, logger: Logger(label: "test"))
        #expect(status.map(\.version) == Migrator.all.map(\.version))
        #expect(status.allSatisfy { $0.appliedAt != nil })
        #expect(Set(status.compactMap(\.appliedBy)).count == 1, "every migration was applied by the same node")
        await database.drop()
    }

    @Test func statusListsPendingMigrationsOfAnEmptyDatabase() async throws {
        let database = try await TestPostgres.createDatabase()
        let status = try await Migrator.status(try database.settings, logger: Logger(label: "test"))
        #expect(status.map(\.version) == Migrator.all.map(\.version))
        #expect(status.allSatisfy { $0.appliedAt == nil && $0.appliedBy == nil })
        await database.drop()
    }

    /// Every file in the migrations folder is in `Migrator.all`, in order, and nothing else is.
    @Test func migrationFilesAndListAgree() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Sources/PostgresEngine/Migrations").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(files == Migrator.all.map { String(format: "v%04d_%@.sql", $0.version, $0.name) })
        for migration in Migrator.all {
            let text = try String(contentsOf: folder.appendingPathComponent(String(format: "v%04d_%@.sql", migration.version, migration.name)), encoding: .utf8)
            #expect(text == migration.sql)
        }
    }

    @Test func databaseURLsParseWithLibpqMeanings() throws {
        let full = try DatabaseSettings(url: "postgres://ann:p%40ss@db.example:6543/chat?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(full.host == "db.example" && full.port == 6543 && full.user == "ann" && full.password == "p@ss")
        #expect(full.database == "chat" && full.tls == .verifyFull && full.rootCertificates == "/etc/ca.pem")
        #expect(!full.description.contains("p@ss"), "the password never shows")
        let plain = try DatabaseSettings(url: "postgresql://localhost/chat")
        #expect(plain.port == 5432 && plain.tls == .prefer && plain.password == nil)
        #expect(try DatabaseSettings(url: "postgres://h/db?sslmode=allow").tls == .prefer)
        #expect(try DatabaseSettings(url: "postgres://h/db?sslmode=disable").tls == .disable)
        for bad in ["mysql://h/db", "postgres:///db", "postgres://h/", "postgres://h/db?sslmode=sometimes"] {
            #expect(throws: ChatError.self, "\(bad) is refused") { try DatabaseSettings(url: bad) }
        }
    }
}

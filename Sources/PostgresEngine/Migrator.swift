import ChatCore
import Crypto
import Logging
import PostgresNIO

/// One versioned schema change: a SQL file in `Sources/PostgresEngine/Migrations`, compiled into the binary.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String

    init(version: Int, name: String, bytes: [UInt8]) {
        self.version = version
        self.name = name
        self.sql = String(decoding: bytes, as: UTF8.self)
    }

    /// SHA-256 of the SQL: a file changed after it was applied is refused, not silently skipped.
    public var checksum: String { SHA256.hash(data: Array(sql.utf8)).map { String(format: "%02x", $0) }.joined() }
}

/// The state of one migration in a database, for `switchboard migrate --status`.
public struct MigrationStatus: Sendable, Equatable {
    public let version: Int
    public let name: String
    /// When it was applied (milliseconds since 1970) and by which node; nil while pending.
    public let appliedAt: Timestamp?
    public let appliedBy: String?
}

/// Applies the migrations in order, each once per database, whatever number of nodes start at once.
///
/// Guarantees: everything runs in one transaction that first takes a transaction-level advisory lock, so
/// concurrent migrators queue behind each other and the later ones find the work done; a failed
/// migration leaves the database as it was; an applied migration whose file has changed since stops the
/// node with a clear error instead of running a schema the code does not expect.
public enum Migrator {
    /// Every migration, in order. A test checks that this list and the folder agree.
    public static let all: [Migration] = [
        Migration(version: 1, name: "chat", bytes: PackageResources.v0001_chat_sql),
        Migration(version: 2, name: "support", bytes: PackageResources.v0002_support_sql),
        Migration(version: 3, name: "append", bytes: PackageResources.v0003_append_sql),
        Migration(version: 4, name: "append_member", bytes: PackageResources.v0004_append_member_sql),
        Migration(version: 5, name: "append_batch", bytes: PackageResources.v0005_append_batch_sql),
        Migration(version: 6, name: "append_rows", bytes: PackageResources.v0006_append_rows_sql),
        Migration(version: 7, name: "append_per_conversation", bytes: PackageResources.v0007_append_per_conversation_sql),
        Migration(version: 8, name: "append_posts", bytes: PackageResources.v0008_append_posts_sql),
        Migration(version: 9, name: "append_without_participants", bytes: PackageResources.v0009_append_without_participants_sql),
    ]

    /// How long migrating may take, waiting for another node's migration included.
    static let migrationDeadline: Duration = .seconds(120)

    /// The advisory lock key every Switchboard migrator takes ("sbmigrat" as a big-endian integer).
    static let lockKey: Int64 = 0x7362_6d69_6772_6174

    static let createLedger: PostgresQuery = """
        CREATE TABLE IF NOT EXISTS switchboard_migrations (
            version    integer PRIMARY KEY,
            name       text NOT NULL,
            checksum   text NOT NULL,
            applied_at bigint NOT NULL,
            applied_by text NOT NULL
        )
        """

    /// Applies what is pending; returns the versions this call applied (empty when another node did).
    @discardableResult
    public static func migrate(
        _ settings: DatabaseSettings, by node: String, clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> [Int] {
        try await withClient(settings, logger: logger) { store in
            try await store.transaction(within: migrationDeadline) { connection in
                try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))", logger: logger)
                try await connection.query(createLedger, logger: logger)
                // Runs a file of several statements (functions included) through one parameterised call.
                try await connection.query(
                    """
                    CREATE OR REPLACE FUNCTION pg_temp.switchboard_run(sql text) RETURNS void LANGUAGE plpgsql
                    AS $run$ BEGIN EXECUTE sql; END $run$
                    """,
                    logger: logger)
                var applied: [Int: String] = [:]
                for try await (version, checksum) in try await connection.query(
                    "SELECT version, checksum FROM switchboard_migrations", logger: logger
                ).decode((Int, String).self) {
                    applied[version] = checksum
                }
                var ran: [Int] = []
                for migration in all {
                    if let checksum = applied[migration.version] {
                        guard checksum == migration.checksum else {
                            throw ChatError.internal(
                                "migration \(migration.version) (\(migration.name)) changed after it was applied; restore its file")
                        }
                        continue
                    }
                    logger.notice("applying migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                    try await connection.query("SELECT pg_temp.switchboard_run(\(migration.sql))", logger: logger)
                    try await connection.query(
                        """
                        INSERT INTO switchboard_migrations (version, name, checksum, applied_at, applied_by)
                        VALUES (\(migration.version), \(migration.name), \(migration.checksum), \(clock.now().milliseconds), \(node))
                        """,
                        logger: logger)
                    ran.append(migration.version)
                }
                return ran
            }
        }
    }

    /// Every migration with whether and when it was applied.
    public static func status(_ settings: DatabaseSettings, logger: Logger) async throws -> [MigrationStatus] {
        try await withClient(settings, logger: logger) { store in
            let ledger = try await store.client.query(
                "SELECT to_regclass('switchboard_migrations') IS NOT NULL", logger: logger
            ).decode(Bool.self).first(where: { _ in true }) ?? false
            var applied: [Int: (Int64, String)] = [:]
            if ledger {
                for try await (version, at, by) in try await store.client.query(
                    "SELECT version, applied_at, applied_by FROM switchboard_migrations", logger: logger
                ).decode((Int, Int64, String).self) {
                    applied[version] = (at, by)
                }
            }
            return all.map { migration in
                let done = applied[migration.version]
                return MigrationStatus(
                    version: migration.version, name: migration.name, appliedAt: done.map { Timestamp(milliseconds: $0.0) },
                    appliedBy: done?.1)
            }
        }
    }

    /// Runs `body` with a store whose pool runs for just that long.
    static func withClient<T: Sendable>(
        _ settings: DatabaseSettings, logger: Logger, _ body: @escaping @Sendable (PostgresStore) async throws -> T
    ) async throws -> T {
        let store = try PostgresStore(settings: settings, logger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await store.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await store.call(within: migrationDeadline) { try await body(store) }
        }
    }
}

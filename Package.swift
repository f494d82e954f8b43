// swift-tools-version: 6.1
import PackageDescription

/// Switchboard: a chat backend whose identical, stateless nodes scale out.
/// Dependencies point inward: ChatCore imports nothing of ours; only the CLI and the end-to-end tests
/// import NodeBootstrap, the composition root.
let strict: [SwiftSetting] = [.swiftLanguageMode(.v6)]

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchboard", targets: ["SwitchboardCLI"]),
        .library(name: "ChatClient", targets: ["ChatClient"]),
        .library(name: "ChatTesting", targets: ["ChatTesting"]),
        // The bench harness's accounting (bench/ is its own package; this pure part builds and is tested here).
        .library(name: "BenchAccounting", targets: ["BenchAccounting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: ["JSON", "CommandLineArguments"]),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.7.1"),
        // The embedded store: SQLite through Debian's libsqlite3 (libsqlite3-dev), statements prepared once per connection.
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.25.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"6.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.30.0"),
    ],
    targets: [
        // What a load run sent, acknowledged and showed, and the loss and duplicates that adds up to.
        // Pure and dependency-free: it lives with the harness in bench/, and `make test` tests it.
        .target(name: "BenchAccounting", path: "bench/Sources/BenchAccounting", swiftSettings: strict),
        .testTarget(name: "BenchAccountingTests", dependencies: ["BenchAccounting"], path: "bench/Tests/BenchAccountingTests", swiftSettings: strict),
        // The pure core: domain, rules, error codes, events, the five ports. No I/O.
        .target(name: "ChatCore", swiftSettings: strict),
        // The wire protocol: frames, codec, validation into typed commands, REST bodies, status tables.
        .target(name: "ChatWire", dependencies: ["ChatCore"], swiftSettings: strict),
        // The engine-agnostic node runtime: sessions, subscriptions, fan-out, the chat service.
        .target(
            name: "ChatNode",
            dependencies: [
                "ChatCore", "ChatWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strict
        ),
        // Group commit: callers' items that arrive while a batch runs go together in the next one.
        .target(
            name: "GroupCommit",
            dependencies: ["ChatCore", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        // Running on the event loops: the production timers (`Schedule`) and a task executor per loop.
        .target(
            name: "EventLoops",
            dependencies: ["ChatCore", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(name: "GroupCommitTests", dependencies: ["ChatCore", "ChatTesting", "GroupCommit"], swiftSettings: strict),
        // SQLite store plus in-process broker, presence, cache and queue.
        .target(
            name: "EmbeddedEngine",
            dependencies: [
                "ChatCore", "EventLoops", "GroupCommit",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The PostgreSQL store: a PostgresNIO client pool, versioned SQL migrations, the append function.
        .target(
            name: "PostgresEngine",
            dependencies: [
                "ChatCore", "EventLoops", "GroupCommit",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // For ConnectionPoolError: a pool that cannot reach the server is `unavailable`, not `internal`.
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The migrations are SQL files, compiled into the binary so a deployed node needs nothing beside it.
            resources: [
                .embedInCode("Migrations/v0001_chat.sql"),
                .embedInCode("Migrations/v0002_support.sql"),
                .embedInCode("Migrations/v0003_append.sql"),
                .embedInCode("Migrations/v0004_append_member.sql"),
                .embedInCode("Migrations/v0005_append_batch.sql"),
                .embedInCode("Migrations/v0006_append_rows.sql"),
                .embedInCode("Migrations/v0007_append_per_conversation.sql"),
                .embedInCode("Migrations/v0008_append_posts.sql"),
                .embedInCode("Migrations/v0009_append_without_participants.sql"),
            ],
            swiftSettings: strict
        ),
        // hiredis 0.14 from Debian (libhiredis-dev): no pkgConfig, whose -D_FILE_OFFSET_BITS=64 SwiftPM refuses.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        // A Redis client that knows nothing about chat: NIO sockets, hiredis encoding and parsing, a pool,
        // pipelining, pub/sub with re-subscribe, Lua scripts.
        .target(
            name: "RedisClient",
            dependencies: [
                "CHiredis",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Broker, presence, cache and the shared rate limiter on Redis, for nodes that scale out.
        .target(
            name: "RedisEngine",
            dependencies: [
                "ChatCore", "EventLoops", "RedisClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The Lua scripts, compiled into the binary.
            resources: [
                .embedInCode("Scripts/presence_connect.lua"),
                .embedInCode("Scripts/presence_disconnect.lua"),
                .embedInCode("Scripts/presence_heartbeat.lua"),
                .embedInCode("Scripts/presence_expire.lua"),
                .embedInCode("Scripts/presence_status.lua"),
                .embedInCode("Scripts/rate_limit.lua"),
                .embedInCode("Scripts/cache_fill.lua"),
                .embedInCode("Scripts/job_queue.lua"),
            ],
            swiftSettings: strict
        ),
        // HTTP and WebSocket edge: routes, upgrade, JWT, health.
        // The JavaScript client (clients/js), compiled in so that the node serves it.
        .target(
            name: "ClientAssets",
            path: "clients",
            exclude: ["js/test", "js/README.md", "console/test"],
            sources: ["ClientAssets.swift"],
            resources: [
                .embedInCode("js/switchboard.js"), .embedInCode("js/switchboard.d.ts"),
                .embedInCode("console/admin.html"), .embedInCode("console/admin.js"), .embedInCode("console/console.css"),
                .embedInCode("console/chat.html"), .embedInCode("console/chat.js"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "ChatServer",
            dependencies: [
                "ChatCore", "ChatWire", "ChatNode", "ClientAssets", "EventLoops",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Composition root: configuration, engine choice, one ServiceGroup.
        // Away notices as signed webhook calls.
        .target(
            name: "Webhooks",
            dependencies: [
                "ChatCore", "ChatWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "NodeBootstrap",
            dependencies: [
                "ChatCore", "ChatWire", "ChatNode", "ChatServer", "EmbeddedEngine", "EventLoops", "PostgresEngine", "RedisEngine", "RedisClient", "Webhooks",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "SwitchboardCLI",
            dependencies: [
                "NodeBootstrap", "ChatCore", "ChatServer", "PostgresEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The Swift SDK: typed API over WebSocket and REST, reconnect.
        .target(
            name: "ChatClient",
            dependencies: [
                "ChatCore", "ChatWire",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Test support: one conformance suite per port, a manual clock, helpers.
        .target(name: "ChatTesting", dependencies: ["ChatCore"], swiftSettings: strict),

        .testTarget(name: "ChatCoreTests", dependencies: ["ChatCore"], swiftSettings: strict),
        .testTarget(name: "ChatWireTests", dependencies: ["ChatCore", "ChatWire"], swiftSettings: strict),
        .testTarget(name: "EmbeddedEngineTests", dependencies: ["ChatCore", "EmbeddedEngine", "ChatTesting"], swiftSettings: strict),
        // Throwaway servers for tests: the PostgreSQL and Redis servers that `make test` starts.
        .target(
            name: "TestServers",
            dependencies: [
                "PostgresEngine",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestServers",
            swiftSettings: strict
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: [
                "RedisClient", "EventLoops", "ChatTesting", "TestServers",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "RedisEngineTests",
            dependencies: [
                "ChatCore", "RedisEngine", "RedisClient", "ChatTesting", "TestServers", "EmbeddedEngine",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "PostgresEngineTests",
            dependencies: ["ChatCore", "PostgresEngine", "ChatTesting", "TestServers", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "ChatNodeTests",
            dependencies: [
                "ChatCore", "ChatWire", "ChatNode", "EmbeddedEngine", "ChatTesting",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "ChatCore", "ChatClient", "ChatNode", "NodeBootstrap", "ChatTesting", "ChatServer", "TestServers", "PostgresEngine", "Webhooks",
                "RedisClient",
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: strict
        ),
    ]
)

// swift-tools-version: 6.1
import PackageDescription

/// switchboard-bench: the load harness and failover drills (bench/README.md). A package of its own so
/// that the node's build stays lean; it takes the node's pure accounting (BenchAccounting) by path.
let package = Package(
    name: "switchboard-bench",
    platforms: [.macOS(.v15)],
    products: [.executable(name: "switchboard-bench", targets: ["SwitchboardBench"])],
    dependencies: [
        .package(name: "switchboard", path: ".."),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "4.1.0"..<"6.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "SwitchboardBench",
            dependencies: [
                .product(name: "BenchAccounting", package: "switchboard"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
        .testTarget(
            name: "SwitchboardBenchTests",
            dependencies: [
                "SwitchboardBench",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: [.swiftLanguageMode(.v6)]
        ),
    ]
)

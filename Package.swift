// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "servha",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "servha", targets: ["servha"]),
        .library(name: "EventLog", targets: ["EventLog"]),
        // The fuzz harnesses' checks, for the fuzz package in Fuzz/ (docs/fuzzing.md).
        .library(name: "FuzzChecks", targets: ["FuzzChecks"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The console (issue 14): HTTP on Hummingbird, metrics through swift-metrics into a Prometheus registry.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // liblz4 (apt: liblz4-dev) plus what Swift cannot express or its Glibc module leaves out: the SSE4.2 crc32
        // instruction behind a runtime CPU check, and ppoll and eventfd for the shell thread's loop.
        .systemLibrary(
            name: "CLZ4",
            pkgConfig: "liblz4",
            providers: [.apt(["liblz4-dev"])]
        ),
        .target(
            name: "EventLog",
            dependencies: [
                "CLZ4",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The pure core and its NodeDriver: the standard library and Crypto, nothing else.
        .target(
            name: "Coordinator",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            // Optimized in debug builds too: the test suite runs thousands of simulated clusters through it.
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // The core's events as log records (and the advertisement and configuration as bytes).
        .target(
            name: "EventRecords",
            dependencies: ["EventLog", "Coordinator"],
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        // Both nodes' drivers and cores in a simulated world, driven by a seed.
        .target(
            name: "Simulation",
            dependencies: ["Coordinator", "EventLog"],
            swiftSettings: [.unsafeFlags(["-O"], .when(configuration: .debug))]
        ),
        .target(
            name: "Replay",
            dependencies: [
                "EventLog", "EventRecords", "Coordinator", .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The daemon's edge: configuration, heartbeat transport, disk lease, resources, alarms, admin socket.
        .target(
            name: "Runtime",
            dependencies: [
                "CLZ4",
                "EventLog",
                "EventRecords",
                "Coordinator",
                "Replay",
                .product(name: "Yams", package: "Yams"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // What each libFuzzer harness in Fuzz/ does with one input: decode, then check the decoder's invariants.
        // Here rather than in Fuzz/ so that FuzzChecksTests replays every stored crash and seed without fuzzing.
        .target(
            name: "FuzzChecks",
            dependencies: [
                "EventLog", "EventRecords", "Coordinator", "Runtime", .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "servha",
            dependencies: [
                "CLZ4",
                "EventLog",
                "EventRecords",
                "Coordinator",
                "Simulation",
                "Replay",
                "Runtime",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "EventLogTests", dependencies: ["EventLog"]),
        .testTarget(name: "CoordinatorTests", dependencies: ["Coordinator", "EventRecords", "EventLog"]),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Coordinator", "EventRecords", "EventLog"]),
        .testTarget(name: "ReplayTests", dependencies: ["Replay", "EventRecords", "Coordinator", "EventLog"]),
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "Runtime", "EventRecords", "Coordinator", .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(name: "FuzzChecksTests", dependencies: ["FuzzChecks"]),
        .testTarget(
            name: "servhaTests",
            dependencies: ["servha", "EventLog", "EventRecords", "Coordinator", "Simulation", "Runtime", "Replay"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

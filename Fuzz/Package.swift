// swift-tools-version:6.0
// The libFuzzer harnesses, outside the main package's build: `make fuzz` builds them with
// --sanitize=fuzzer --sanitize=address and runs each for FUZZ_SECONDS. What each one does with an input lives in
// the main package's FuzzChecks target, so that its tests replay every seed and stored crash (docs/fuzzing.md).
import PackageDescription

// One binary for every harness: SERVHA_FUZZ_HARNESS picks it.
let package = Package(
    name: "servha-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "servha", path: "..")],
    targets: [
        .executableTarget(
            name: "fuzz",
            dependencies: [.product(name: "FuzzChecks", package: "servha")],
            path: "Sources/fuzz"
        )
    ],
    swiftLanguageModes: [.v6]
)

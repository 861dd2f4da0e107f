// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "FaceLoop",
    products: [
        .library(name: "Federation", targets: ["Federation"]),
    ],
    targets: [
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(
            name: "Federation",
            dependencies: ["CBLAS"],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        .testTarget(
            name: "FederationTests",
            dependencies: ["Federation"],
            exclude: ["Fixtures"],
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
        .executableTarget(
            name: "FederationBench",
            dependencies: ["Federation", "CBLAS"],
            path: "Benchmarks/FederationBench",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

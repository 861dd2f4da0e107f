// swift-tools-version:6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "FaceLoop",
    products: [
        .library(name: "Calibration", targets: ["Calibration"]),
    ],
    targets: [
        .target(
            name: "Calibration",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CalibrationTests",
            dependencies: ["Calibration"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "calibration-bench",
            dependencies: ["Calibration"],
            path: "Benchmarks/CalibrationBench",
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

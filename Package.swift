// swift-tools-version:6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "FaceLoop",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "faceloop-server", targets: ["faceloop-server"]),
        .executable(name: "faceloop-agent", targets: ["faceloop-agent"]),
        .executable(name: "faceloop", targets: ["faceloop"]),
        // For PowerCutTests only: loaded into the server with LD_PRELOAD, never linked.
        .library(name: "PowerCutDisk", type: .dynamic, targets: ["PowerCutDisk"]),
        .library(name: "FakeClock", type: .dynamic, targets: ["FakeClock"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-http-structured-headers", from: "1.7.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
    ],
    targets: [
        // Strict RFC 8259 JSON, the JSON Schema 2020-12 validator, RFC 3339 times, hex. No dependencies.
        .target(name: "StrictJSON", swiftSettings: strictSettings),
        // RFC 9421 HTTP message signatures and RFC 9530 Content-Digest, over the RFC 8941 structured fields of
        // swift-http-structured-headers.
        .target(
            name: "HTTPSignatures",
            dependencies: [.product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers")],
            swiftSettings: strictSettings
        ),
        // FaceLoop's wire: outcomes, consent events, batches and receipts with their schemas, the upload
        // signature policy, problem types and signed release envelopes.
        .target(
            name: "FeedbackWire",
            dependencies: ["StrictJSON", "HTTPSignatures", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Mergeable score statistics, bob.measure-exact error rates, thresholds, drift. No I/O.
        .target(name: "Calibration", swiftSettings: strictSettings),
        // OpenBLAS, for the face network and the aggregators.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        // JPEG decode, detection, landmarks, alignment, the ResNet descriptor, matching.
        .target(
            name: "FaceVerification",
            dependencies: ["CBLAS", "CTurboJPEG", "CCaptureKernels", "FederationCore", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // CaptureNormalization's pixel loops: SSE2 bodies, AVX2 ones picked at run time.
        .target(name: "CCaptureKernels"),
        // Adapter training, robust aggregation, DP and privacy accounting. No I/O.
        .target(name: "Federation", dependencies: ["CBLAS", "FederationCore", "SeededRandom"], swiftSettings: strictSettings),
        // What a release asks a kiosk to apply (the adapter, the capture-normalisation policy) and FederationError: no dependencies.
        .target(name: "FederationCore", swiftSettings: strictSettings),
        // SplitMix64, the one seeded generator of training, simulations and tests. No dependencies.
        .target(name: "SeededRandom", swiftSettings: strictSettings),
        // Wire types of the threshold-release endpoints (shared by server, agent and CLI).
        .target(
            name: "ThresholdAPI",
            dependencies: ["Calibration", "FeedbackWire", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Wire types of the federated rounds and model releases (shared by server, agent and CLI).
        .target(
            name: "FederationAPI",
            dependencies: ["FederationCore", "Federation", "FeedbackWire", "StrictJSON", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Store protocols and the SQLite back end.
        .target(
            name: "Storage",
            dependencies: ["FeedbackWire", "StrictJSON", "Compliance", "AuditLog", "Calibration", "CSQLiteSettings", "CZstd",
                           .product(name: "GRDB", package: "GRDB.swift"),
                           .product(name: "GRDBSQLite", package: "GRDB.swift"),
                           .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // The Merkle-tree audit log (RFC 9162 hashing), checkpoints, bundles and their offline check: pure.
        .target(
            name: "AuditLog",
            dependencies: ["FeedbackWire", "StrictJSON", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Consent rules, pseudonyms and retention: pure, no I/O.
        .target(
            name: "Compliance",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // Device CA, certificates and enrollment (server side and agent side share the X.509 code).
        .target(
            name: "DeviceIdentity",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: strictSettings
        ),
        // SVG charts: score histograms, DET curves (pages and `faceloop curves`), the ε bar. Values in, SVG out.
        .target(name: "Charts", dependencies: ["Calibration"], swiftSettings: strictSettings),
        // HTML pages for engineers and compliance officers: rendering only, no I/O.
        .target(
            name: "WebPages",
            dependencies: ["Charts", .product(name: "Mustache", package: "swift-mustache"),
                           .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Server",
            dependencies: ["FederationCore", "Charts", 
                "FeedbackWire", "StrictJSON", "HTTPSignatures", "Storage", "DeviceIdentity", "Calibration", "ThresholdAPI", "Federation", "FederationAPI", "Compliance", "AuditLog",
                "WebPages",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Agent",
            dependencies: ["FederationCore", 
                "FeedbackWire", "StrictJSON", "HTTPSignatures", "DeviceIdentity", "Calibration", "ThresholdAPI", "Federation", "FederationAPI", "Compliance",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Thin client for engineers and admins (the `faceloop` CLI).
        .target(
            name: "OperatorClient",
            dependencies: [
                "FeedbackWire", "StrictJSON", "Calibration", "ThresholdAPI", "FederationAPI",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "faceloop-server",
            dependencies: [
                "Server",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "faceloop-agent",
            dependencies: [
                "Agent", "Calibration", "FeedbackWire", "StrictJSON", "FaceVerification", "Federation", "FederationAPI", "FederationCore", "Compliance",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strictSettings
        ),
        // zlib, for reading gzipped score files.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CSQLiteSettings", providers: [.apt(["libsqlite3-dev"])]),
        // Score files (CSV, optionally gzipped) → evaluation reports, DET/ROC points and plots.
        .target(name: "ScoreReports", dependencies: ["Calibration", "Charts", "StrictJSON", "CZlib"], swiftSettings: strictSettings),
        .executableTarget(
            name: "faceloop",
            dependencies: [
                "OperatorClient", "Agent", "Calibration", "ThresholdAPI", "FeedbackWire", "StrictJSON", "FederationAPI", "Federation", "AuditLog",
                "Storage", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                "ScoreReports", "Charts", "SeededRandom",
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ingest-bench",
            dependencies: [
                "Storage", "FeedbackWire", "HTTPSignatures", "DeviceIdentity", "Compliance",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/IngestBench",
            swiftSettings: strictSettings
        ),
        // Fills a store with millions of outcomes straight through SQL and times threshold computation,
        // drift and the calibration page on it (docs/benchmarks.md, "Statistics at volume").
        .executableTarget(
            name: "statistics-bench",
            dependencies: [
                "Storage", "Calibration", "Compliance", "SeededRandom",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Benchmarks/StatisticsBench",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "calibration-bench",
            dependencies: ["Calibration"],
            path: "Benchmarks/CalibrationBench",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "federation-bench",
            dependencies: ["Federation", "CBLAS"],
            path: "Benchmarks/FederationBench",
            swiftSettings: strictSettings
        ),
        // The capture conditions both simulations over real faces degrade their probes with.
        .target(
            name: "SimulatedCapture",
            dependencies: ["CTurboJPEG", "FaceVerification"],
            path: "Benchmarks/SimulatedCapture",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "federation-simulation",
            dependencies: ["Calibration", "FederationCore", "Federation", "FaceVerification", "SeededRandom", "SimulatedCapture", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/FederationSimulation",
            swiftSettings: strictSettings
        ),
        // The federated search for per-cohort capture-normalisation policies over real faces.
        .executableTarget(
            name: "policy-search-simulation",
            dependencies: ["Calibration", "Charts", "FaceVerification", "Federation", "FederationCore", "SeededRandom", "SimulatedCapture",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/PolicySearchSimulation",
            swiftSettings: strictSettings
        ),
        // Hold-out check of FMR thresholds by person over real faces: Clopper–Pearson against the subjects bootstrap.
        .executableTarget(
            name: "subject-holdout",
            dependencies: ["Calibration", "FaceVerification", "SeededRandom", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Benchmarks/SubjectHoldout",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "shadow-bench",
            dependencies: ["FaceVerification", "CCaptureKernels", "FederationCore", "SeededRandom"],
            path: "Benchmarks/ShadowBench",
            swiftSettings: strictSettings
        ),
        // Fuzz targets: libFuzzer under scripts/fuzz.sh, corpus replay in ordinary builds.
        .target(name: "FuzzDriver", path: "Fuzz/FuzzDriver", swiftSettings: strictSettings),
        .executableTarget(
            name: "fuzz-upload",
            dependencies: ["FuzzDriver", "FeedbackWire", "HTTPSignatures", .product(name: "Crypto", package: "swift-crypto")],
            path: "Fuzz/fuzz-upload", exclude: ["corpus"], swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "fuzz-models", dependencies: ["FuzzDriver", "FaceVerification"],
            path: "Fuzz/fuzz-models", exclude: ["corpus"], swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "fuzz-jpeg", dependencies: ["FuzzDriver", "FaceVerification"],
            path: "Fuzz/fuzz-jpeg", exclude: ["corpus"], swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "fuzz-scores", dependencies: ["FuzzDriver", "ScoreReports"],
            path: "Fuzz/fuzz-scores", exclude: ["corpus"], swiftSettings: strictSettings
        ),
        // Test support: child processes spawned and reaped without Foundation's Process.
        .target(name: "ChildProcess", path: "Tests/Support/ChildProcess", swiftSettings: strictSettings),
        // Test support: a disk that keeps only fsynced bytes, as an LD_PRELOAD library (PowerCutTests).
        .target(name: "PowerCutDisk", path: "Tests/Support/PowerCutDisk",
                linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux])), .linkedLibrary("pthread", .when(platforms: [.linux]))]),
        // Test support: a wall clock that runs ahead, as an LD_PRELOAD library (FleetYearsTests).
        .target(name: "FakeClock", path: "Tests/Support/FakeClock",
                linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        .target(name: "PostgresTestSupport", dependencies: [.product(name: "PostgresNIO", package: "postgres-nio"),
                                                            .product(name: "Logging", package: "swift-log")],
                path: "Tests/Support/PostgresTestSupport", swiftSettings: strictSettings),
        // Test support: sample outcomes and batches, temporary files and directories.
        .target(name: "TestSupport", dependencies: ["FeedbackWire"], path: "Tests/Support/TestSupport", swiftSettings: strictSettings),
        .testTarget(name: "ComplianceTests", dependencies: ["Compliance", "SeededRandom"], swiftSettings: strictSettings),
        .testTarget(
            name: "AuditLogTests",
            dependencies: ["AuditLog", "FeedbackWire", "StrictJSON", "SeededRandom", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FaceVerificationTests",
            dependencies: ["FaceVerification", "FederationCore", "CCaptureKernels", "SeededRandom", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FederationTests",
            dependencies: ["FederationCore", "Federation", "SeededRandom", "TestSupport"],
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CalibrationTests",
            dependencies: ["Calibration", "SeededRandom"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ScoreReportsTests",
            dependencies: ["ScoreReports", "Calibration", "Charts", "FeedbackWire", "StrictJSON", "ChildProcess", "TestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "FeedbackWireTests", dependencies: ["FeedbackWire", "StrictJSON", "TestSupport"], swiftSettings: strictSettings),
        .testTarget(name: "StrictJSONTests", dependencies: ["StrictJSON", .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strictSettings),
        .testTarget(name: "HTTPSignaturesTests", dependencies: ["HTTPSignatures", "FeedbackWire", "StrictJSON"], swiftSettings: strictSettings),
        .testTarget(
            name: "ThresholdAPITests",
            dependencies: ["ThresholdAPI", "Calibration", "FeedbackWire", "StrictJSON", .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "WebPagesTests", dependencies: ["WebPages", "Charts", .product(name: "Crypto", package: "swift-crypto")],
                    swiftSettings: strictSettings),
        .testTarget(
            name: "FederationAPITests",
            dependencies: ["FederationCore", "FederationAPI", "Federation", "FeedbackWire", "StrictJSON", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "FeedbackWire", "HTTPSignatures", "Compliance", "AuditLog", "PostgresTestSupport", "TestSupport",
                                                       .product(name: "GRDB", package: "GRDB.swift"),
                                                       .product(name: "Crypto", package: "swift-crypto")], swiftSettings: strictSettings),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Storage", "FeedbackWire", "StrictJSON", "HTTPSignatures", "Federation", "FederationAPI", "SeededRandom", "TestSupport",
                "Calibration", "Compliance", "FederationCore", "ThresholdAPI", "WebPages", "DeviceIdentity",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "Logging", package: "swift-log"),
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "X509", package: "swift-certificates"),
                .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "Calibration", "FeedbackWire", "StrictJSON", "DeviceIdentity", "Federation", "FederationAPI", "FederationCore", "SeededRandom", "TestSupport", "ThresholdAPI", .product(name: "X509", package: "swift-certificates"), .product(name: "Crypto", package: "swift-crypto"),
                                                   .product(name: "GRDB", package: "GRDB.swift"), .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                                                   .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl")],
                    swiftSettings: strictSettings),
        .testTarget(name: "DeviceIdentityTests", dependencies: ["DeviceIdentity", "TestSupport"], swiftSettings: strictSettings),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["FederationCore", "Charts", 
                "FeedbackWire", "StrictJSON", "HTTPSignatures", "DeviceIdentity", "Agent", "Calibration", "Storage", "Federation", "FederationAPI", "ChildProcess", "PostgresTestSupport",
                "SeededRandom", "TestSupport",
                "WebPages",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            swiftSettings: strictSettings
        ),
    ],
    swiftLanguageModes: [.v6]
)

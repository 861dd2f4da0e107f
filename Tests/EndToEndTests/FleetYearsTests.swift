import Crypto
import DeviceIdentity
import FeedbackWire
import Foundation
import Storage
import StrictJSON
import TestSupport
import Testing
import X509

extension EndToEnd {
    /// Three years of a fleet in a few minutes. Every process (server, agents, CLI, openssl) runs
    /// with the FakeClock library preloaded (`Tests/Support/FakeClock`), so the wall clock they all
    /// read, BoringSSL's certificate checks included, moves forward in steps while nothing else
    /// is simulated: certificates expire for real and
    /// must be renewed by the agents on their own, the server renews its TLS certificate on its
    /// own, and an administrator rotates the device CA, the release key, the audit key and a
    /// jurisdiction's pseudonym key once each.
    @Suite("A fleet through three years")
    struct FleetYearsTests {
        static var fakeClock: String { Binaries.path("libFakeClock.so") }
        static let site = "station-1"
        static let camera = "cam-1"
        static let subjects = (0..<24).map { "traveller-\($0)@example.org" }
        static let stepDays = 60
        static let years = 3

        /// Every process of the test reads its wall clock through one file of seconds ahead.
        static func clock(_ file: String) -> [String: String] {
            ["LD_PRELOAD": fakeClock, "FACELOOP_FAKE_CLOCK_FILE": file]
        }

        /// Seeded scores: 60 % impostors below 0.5, the rest genuine above.
        static func outcomeLines(step: Int, kiosk: Int, count: Int, at time: Date, pseudonyms: [String], keyVersion: Int) -> Data {
            var state = UInt64(step * 31 + kiosk * 7 + 1)
            func next() -> Double {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Double(state >> 11) / Double(1 << 53)
            }
            return Data((0..<count).map { index in
                let impostor = index % 5 < 3
                let score = impostor ? ((next() * 0.8 - 0.35) * 1000).rounded() / 1000 : ((0.5 + next() * 0.45) * 1000).rounded() / 1000
                var subject: [(key: String, value: JSONValue)] = [("pseudonym", .string(pseudonyms[(index + step) % pseudonyms.count])),
                                                                  ("consent_ref", .string("c-1"))]
                if keyVersion != 1 { subject.append(("key_version", .number(Double(keyVersion)))) }
                return JSONValue.object([
                    ("attempted_at", .string(RFC3339.format(time))),
                    ("model_version", .string("dlib_face_recognition_resnet_model_v1")), ("threshold_version", .string("initial")),
                    ("cohort", .object([("site", .string(site)), ("camera_model", .string(camera))])),
                    ("score", .number(score)), ("decision", .string(score >= 0.5 ? "accept" : "reject")),
                    ("label", .string(impostor ? "impostor" : "genuine")), ("label_source", .string("operator")),
                    ("quality", .object([("face_size_px", .number(150)), ("sharpness", .number(50)), ("brightness", .number(0.5))])),
                    ("subject", .object(subject)),
                ]).serializedString
            }.joined(separator: "\n").utf8)
        }

        /// The first certificate of a PEM file (a chain's leaf).
        static func leaf(_ path: String) throws -> Certificate {
            try #require(try Certificate.bundle(pem: try String(contentsOfFile: path, encoding: .utf8)).first)
        }

        static func fingerprint(_ path: String) throws -> String { try leaf(path).sha256Fingerprint }

        /// Whether the newest CA of the server's bundle signed the certificate (all generations share one name).
        static func issuedByNewestCA(_ path: String, bundle: String) throws -> Bool {
            let certificate = try leaf(path)
            let newest = try #require(try Certificate.bundle(pem: try String(contentsOfFile: bundle, encoding: .utf8)).last)
            return newest.publicKey.isValidSignature(certificate.signature, for: certificate)
        }

        @Test("three years: certificates renew unattended, every key is rotated once, uploads and verified releases never stop, the audit bundle verifies from the first key")
        func threeYears() async throws {
            #expect(FileManager.default.fileExists(atPath: Self.fakeClock), "\(Self.fakeClock) is built with the tests (product FakeClock)")
            let root = try temporaryDirectory("fleet-years")
            defer { try? FileManager.default.removeItem(atPath: root) }
            func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
            let clockFile = path("clock")
            var day = 0
            func setDay(_ next: Int) throws {
                day = next
                try Data("\(day * 86_400)\n".utf8).write(to: URL(fileURLWithPath: clockFile))
            }
            try setDay(0)
            let server = ServerProcess(dataDirectory: path("server"),
                                       environment: Self.clock(clockFile).merging(["FACELOOP_SERVER_TLS_RENEWAL_CHECK_SECONDS": "1"]) { $1 })
            try server.start()
            defer { server.stop() }
            func now() -> Date { Date().addingTimeInterval(Double(day) * 86_400) }
            func tool(_ name: String, _ arguments: [String], stdin: Data? = nil) throws -> CommandResult {
                try runTool(name, arguments, stdin: stdin, environment: Self.clock(clockFile))
            }
            func cli(_ arguments: [String], token: String? = nil) throws -> CommandResult {
                try tool("faceloop", arguments + ["--server", server.baseURL, "--ca-file", server.caFile]
                         + (token.map { ["--token", $0] } ?? ["--token-file", server.adminTokenFile]))
            }
            func token(_ role: String, _ label: String) throws -> String {
                let grant = try cli(["tokens", "create", "--role", role, "--label", label])
                #expect(grant.status == 0, "\(grant.stderr)")
                return grant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            // Day 0: the people, the pinned keys, the consent text and three kiosks of one station.
            let engineer = try token("engineer", "engineer")
            let officer = try token("compliance", "officer")
            func pseudonyms() throws -> (values: [String], version: Int) {
                var values: [String] = []
                var version = 0
                for subject in Self.subjects {
                    let answer = try cli(["compliance", "pseudonym", "--jurisdiction", "default", subject], token: officer)
                    #expect(answer.status == 0, "\(answer.stderr)")
                    let json = try JSONValue.parse(answer.stdout)
                    values.append(try #require(json["subject_pseudonym"]?.stringValue))
                    version = Int(json["key_version"]?.numberValue ?? 1)
                }
                return (values, version)
            }

            try registerSites(server, [Self.site])
            try TestConsent.registerText(server)
            let firstAuditKey = path("audit-first.pub")
            try FileManager.default.copyItem(atPath: path("server/audit-signing.pub"), toPath: firstAuditKey)
            let firstTLS = try Self.fingerprint(path("server/server.crt"))
            var current = try pseudonyms()
            #expect(current.version == 1)

            func enroll(_ id: String) throws -> String {
                let directory = path(id)
                let token = try cli(["devices", "enroll-token", id, "--json", "--site", Self.site])
                #expect(token.status == 0, "\(token.stderr)")
                let secret = try #require(try JSONValue.parse(token.stdout)["token"]?.stringValue)
                let enrolled = try tool("faceloop-agent", ["enroll", "--data-dir", directory, "--server", server.baseURL, "--device-id", id,
                                                           "--token", secret, "--ca-file", server.caFile])
                #expect(enrolled.status == 0, "\(enrolled.stderr)")
                let grants = Data(current.values.map { pseudonym in
                    JSONValue.object([
                        ("occurred_at", .string(RFC3339.format(now().addingTimeInterval(-60)))), ("subject_pseudonym", .string(pseudonym)),
                        ("purpose", .string("threshold-calibration")), ("kind", .string("grant")), ("method", .string("touch")),
                        ("site", .string(Self.site)), ("text_version", .string(TestConsent.version)), ("text_sha256", .string(TestConsent.sha256)),
                    ]).serializedString
                }.joined(separator: "\n").utf8)
                let consent = try tool("faceloop-agent", ["consent", "--stdin", "--data-dir", directory], stdin: grants)
                #expect(consent.status == 0, "\(consent.stderr)")
                return directory
            }
            var kiosks: [(String, String)] = []
            for id in ["kiosk-a", "kiosk-b"] { kiosks.append((id, try enroll(id))) }
            let offline = try enroll("kiosk-c")
            var fingerprints: [String: Set<String>] = [:]
            var acknowledged = 0
            var recordedOutcomes = 0
            var releasesSeen: [String: Set<Int>] = [:]
            var published = 0

            func uploadEverywhere(step: Int, including extra: [(String, String)] = []) throws {
                for (index, (id, directory)) in (kiosks + extra).enumerated() {
                    let lines = Self.outcomeLines(step: step, kiosk: index, count: 60, at: now().addingTimeInterval(-60),
                                                  pseudonyms: current.values, keyVersion: current.version)
                    let recorded = try tool("faceloop-agent", ["record", "--stdin", "--data-dir", directory], stdin: lines)
                    #expect(recorded.status == 0, "day \(day) \(id) record: \(recorded.stderr)")
                    recordedOutcomes += 60
                    let uploaded = try tool("faceloop-agent", ["upload", "--json", "--data-dir", directory])
                    #expect(uploaded.status == 0, "day \(day) \(id) upload: \(uploaded.stdout) \(uploaded.stderr)")
                    let report = try JSONValue.parse(uploaded.stdout)
                    #expect(report["outcomes_acknowledged"]?.numberValue == 60, "day \(day) \(id): \(uploaded.stdout)")
                    #expect(report["events_refused"]?.numberValue == 0, "day \(day) \(id): \(uploaded.stdout)")
                    #expect(report["certificate_renewal_error"] == nil || report["certificate_renewal_error"] == .null,
                            "day \(day) \(id): \(uploaded.stdout)")
                    acknowledged += Int(report["outcomes_acknowledged"]?.numberValue ?? 0)
                    fingerprints[id, default: []].insert(try Self.fingerprint((directory as NSString).appendingPathComponent("device.crt")))
                    if published > 0 {
                        let pulled = try tool("faceloop-agent", ["thresholds", "pull", "--json", "--data-dir", directory,
                                                                 "--site", Self.site, "--camera-model", Self.camera])
                        #expect(pulled.status == 0, "day \(day) \(id) pull: \(pulled.stderr)")
                        if let version = try? JSONValue.parse(pulled.stdout)["release_version"]?.numberValue {
                            releasesSeen[id, default: []].insert(Int(version))
                        }
                    }
                }
            }

            func publishThresholds() throws {
                let computed = try cli(["thresholds", "compute", "--target-fmr", "0.05", "--json"], token: engineer)
                #expect(computed.status == 0, "day \(day) compute: \(computed.stderr)")
                let version = try #require(try JSONValue.parse(computed.stdout)["version"]?.numberValue)
                #expect(try cli(["thresholds", "approve", String(Int(version))]).status == 0)
                let publication = try cli(["thresholds", "publish", String(Int(version))], token: engineer)
                #expect(publication.status == 0, "day \(day) publish: \(publication.stderr)")
                published = Int(version)
            }

            func rotate(_ what: [String]) throws {
                let rotated = try cli(["admin", "rotate"] + what + ["--json"])
                #expect(rotated.status == 0, "day \(day) rotate \(what): \(rotated.stderr)")
            }

            func checkpoint() throws {
                #expect(try cli(["audit", "checkpoint"], token: officer).status == 0)
            }

            let lastDay = 365 * Self.years
            var lateKiosk: (String, String)?
            var expiredRefusal: CommandResult?
            for (step, stepDay) in stride(from: 0, through: lastDay, by: Self.stepDays).enumerated() {
                try setDay(stepDay)
                // Past the server's clock cache and one TLS renewal check.
                try await Task.sleep(for: .milliseconds(2_200))
                if step == 0 {
                    // kiosk-c uploads once, then is switched off for good.
                    let lines = Self.outcomeLines(step: 0, kiosk: 9, count: 10, at: now().addingTimeInterval(-60),
                                                  pseudonyms: current.values, keyVersion: 1)
                    #expect(try tool("faceloop-agent", ["record", "--stdin", "--data-dir", offline], stdin: lines).status == 0)
                    #expect(try tool("faceloop-agent", ["upload", "--data-dir", offline]).status == 0)
                }
                switch stepDay {
                case 120: try publishThresholds()
                case 180: try checkpoint(); try rotate(["release-signing"])
                case 240: try publishThresholds()     // signed with the new key; kiosks learn it on their own
                case 360: try rotate(["device-ca"])
                case 420:
                    lateKiosk = ("kiosk-d", try enroll("kiosk-d"))
                    // kiosk-c's certificate expired on day 397 and it was never renewed: refused, renewal too.
                    let lines = Self.outcomeLines(step: step, kiosk: 9, count: 5, at: now().addingTimeInterval(-60),
                                                  pseudonyms: current.values, keyVersion: 1)
                    #expect(try tool("faceloop-agent", ["record", "--stdin", "--data-dir", offline], stdin: lines).status == 0)
                    expiredRefusal = try tool("faceloop-agent", ["upload", "--json", "--max-attempts", "1", "--data-dir", offline])
                    let renewal = try tool("faceloop-agent", ["renew", "--data-dir", offline])
                    #expect(renewal.status != 0 && renewal.stderr.contains("device-certificate-expired"), "\(renewal.stderr)")
                case 540: try checkpoint(); try rotate(["audit-signing"])
                case 720:
                    try rotate(["pseudonym-key", "--jurisdiction", "default"])
                    // Each kiosk re-keys the subjects it knows, from their raw ids; the server never sees one.
                    for (id, directory) in kiosks + (lateKiosk.map { [$0] } ?? []) {
                        let rekeyed = try tool("faceloop-agent", ["pseudonyms", "rekey", "--site", Self.site, "--data-dir", directory],
                                               stdin: Data(Self.subjects.joined(separator: "\n").utf8))
                        #expect(rekeyed.status == 0, "day \(day) \(id) rekey: \(rekeyed.stderr)")
                    }
                    current = try pseudonyms()
                    #expect(current.version == 2)
                case 900: try publishThresholds()
                default: break
                }
                try uploadEverywhere(step: step, including: lateKiosk.map { [$0] } ?? [])
            }
            try checkpoint()

            // Uploads and pulls never stopped (checked at each step above); certificates renewed on their own.
            #expect(recordedOutcomes == 50 * 60, "19 steps of two kiosks and 12 of the late one")
            #expect(acknowledged == recordedOutcomes)
            #expect(releasesSeen["kiosk-d"] == [2, 3], "enrolled after the second release")
            for id in ["kiosk-a", "kiosk-b"] {
                #expect((fingerprints[id]?.count ?? 0) >= 4, "\(id) renewed at most \((fingerprints[id]?.count ?? 1) - 1) times in three years")
                #expect(releasesSeen[id] == [1, 2, 3], "\(id) applied releases \(releasesSeen[id] ?? [])")
                #expect(try Self.issuedByNewestCA(path("\(id)/device.crt"), bundle: server.caFile), "renewed from the new CA")
                #expect(FileManager.default.fileExists(atPath: path("\(id)/release-signing-keys.json")), "learned the rotated release key")
            }
            #expect((fingerprints["kiosk-d"]?.count ?? 0) >= 2)
            let refusal = try #require(expiredRefusal)
            #expect(refusal.status != 0 && (refusal.stdout + refusal.stderr).contains("device-certificate-expired"),
                    "\(refusal.stdout) \(refusal.stderr)")

            // openssl, on the same clock, accepts the renewed certificate against the bundle the kiosk pins.
            let openssl = try #require(["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) })
            let verified = try tool(openssl, ["verify", "-CAfile", path("kiosk-a/ca.crt"), path("kiosk-a/device.crt")])
            #expect(verified.status == 0, "\(verified.stdout) \(verified.stderr)")

            // The server renewed its TLS certificate unattended, from the new CA, with the cross certificate behind it.
            #expect(try Self.fingerprint(path("server/server.crt")) != firstTLS)
            #expect(try Self.issuedByNewestCA(path("server/server.crt"), bundle: server.caFile))
            #expect(try Certificate.bundle(pem: try String(contentsOfFile: path("server/server.crt"), encoding: .utf8)).count == 2)

            // The whole log, across the audit-key rotation, verifies offline from the key pinned on day 0.
            let bundle = path("audit.json")
            let exported = try cli(["audit", "export", "--output", bundle], token: officer)
            #expect(exported.status == 0, "\(exported.stderr)")
            let audit = try runTool("faceloop", ["audit", "verify", bundle, "--public-key", firstAuditKey])
            #expect(audit.status == 0, "\(audit.stdout) \(audit.stderr)")
            #expect(audit.stdout.contains("generation 2"), "\(audit.stdout)")

            // Each rotation is an entry of the log: the four server keys, the TLS certificate by the server itself.
            _ = server.stop()
            let store = try SQLiteStore(path: path("server/faceloop.sqlite"))
            let logged = try await store.auditEntries(from: 0, to: try await store.auditTreeSize()).map { try JSONValue.parse($0) }
            let rotated = logged.filter { $0["kind"]?.stringValue == "key_rotated" }
            #expect(Set(rotated.compactMap { $0["details"]?["purpose"]?.stringValue })
                    == ["release-signing", "device-ca", "audit-signing", "tls-certificate"], "\(rotated)")
            #expect(rotated.contains { $0["details"]?["purpose"]?.stringValue == "tls-certificate" && $0["actor"]?.stringValue == "system:tls-renewal" })
            #expect(logged.filter { $0["kind"]?.stringValue == "pseudonym_key_rotated" }.count == 1)
        }
    }
}

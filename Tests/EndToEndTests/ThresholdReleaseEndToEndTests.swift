import Calibration
import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// Kiosks upload outcomes; an engineer computes, approves and publishes a threshold release;
    /// a kiosk pulls and verifies it and applies its cohort's threshold; a tampered release is
    /// refused.
    @Suite("Threshold releases end to end")
    struct ThresholdReleaseEndToEndTests {
        /// Seeded, so the expected threshold can be recomputed here from the same scores.
        static func scores(seed: UInt64, impostors: Int, genuine: Int) -> [(Double, String)] {
            var state = seed
            func next() -> Double {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Double(state >> 11) / Double(1 << 53)
            }
            // Rounded to 3 decimals so ties occur, as with real kiosk scores; on the scale of dlib's
            // cosine scores, so the thresholds fall in the live statistics' exact tail (≥ 0.8887).
            let impostor = (0..<impostors).map { _ in ((0.4 + next() * 0.5) * 1000).rounded() / 1000 }
            let genuineScores = (0..<genuine).map { _ in ((0.85 + next() * 0.15) * 1000).rounded() / 1000 }
            return impostor.map { ($0, "impostor") } + genuineScores.map { ($0, "genuine") }
        }

        /// 30 subjects take turns, so that thresholds can be bounded by subject (the server
        /// refuses a pool of fewer than 20).
        static func subject(_ index: Int) -> String { String(format: "%064x", index % 30 + 1) }

        static func lines(_ scores: [(Double, String)], site: String, camera: String, attemptedAt: Date = Date()) -> Data {
            Data(scores.enumerated().map { index, element in
                let (score, label) = element
                return JSONValue.object([
                    ("attempted_at", .string(RFC3339.format(attemptedAt))),
                    ("model_version", .string("dlib_face_recognition_resnet_model_v1")), ("threshold_version", .string("initial")),
                    ("cohort", .object([("site", .string(site)), ("camera_model", .string(camera))])),
                    ("score", .number(score)), ("decision", .string(score >= 0.5 ? "accept" : "reject")),
                    ("label", .string(label)), ("label_source", .string("operator")),
                    ("quality", .object([("face_size_px", .number(150)), ("sharpness", .number(50)), ("brightness", .number(0.5))])),
                    ("subject", .object([("pseudonym", .string(subject(index))), ("consent_ref", .string("c-1"))])),
                ]).serializedString
            }.joined(separator: "\n").utf8)
        }

        func cli(_ server: ServerProcess, _ arguments: [String], token: String? = nil) throws -> CommandResult {
            var args = arguments + ["--server", server.baseURL, "--ca-file", server.caFile]
            if let token { args += ["--token", token] } else { args += ["--token-file", server.adminTokenFile] }
            return try runTool("faceloop", args)
        }

        @Test("compute → approve → publish → kiosk pulls, verifies and applies; tampering is refused")
        func releaseFlow() async throws {
            let root = try temporaryDirectory("thresholds")
            defer { try? FileManager.default.removeItem(atPath: root) }
            let server = ServerProcess(dataDirectory: (root as NSString).appendingPathComponent("server"))
            try server.start()
            defer { server.stop() }

            let kiosk = (root as NSString).appendingPathComponent("kiosk")
            try enrollKiosk(server, id: "kiosk-t1", sites: ["branch-a", "branch-b"], directory: kiosk)

            let siteA = Self.scores(seed: 7, impostors: 700, genuine: 300)
            let siteB = Self.scores(seed: 11, impostors: 20, genuine: 30)
            // Yesterday: statistics are kept per UTC day, and drift compares the release's days
            // with the days after them, where the shifted scores below are dated (today).
            let yesterday = Date().addingTimeInterval(-86_400)
            for (scores, site) in [(siteA, "branch-a"), (siteB, "branch-b")] {
                let recorded = try TestConsent.recordOutcomes(Self.lines(scores, site: site, camera: "cam-1", attemptedAt: yesterday),
                                                              server: server, directory: kiosk)
                #expect(recorded.status == 0, "\(recorded.stderr)")
            }
            let upload = try runTool("faceloop-agent", ["upload", "--data-dir", kiosk])
            #expect(upload.status == 0, "\(upload.stdout)\(upload.stderr)")

            // An engineer with their own token computes; nothing is published yet.
            let grant = try cli(server, ["tokens", "create", "--role", "engineer", "--label", "alice"])
            #expect(grant.status == 0, "\(grant.stderr)")
            let alice = grant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let pullEarly = try runTool("faceloop-agent", ["thresholds", "pull", "--data-dir", kiosk, "--site", "branch-a", "--camera-model", "cam-1"])
            #expect(pullEarly.status != 0)

            let computed = try cli(server, ["thresholds", "compute", "--target-fmr", "0.01", "--json"], token: alice)
            #expect(computed.status == 0, "\(computed.stderr)")
            let view = try JSONValue.parse(computed.stdout)
            #expect(view["state"]?.stringValue == "computed")
            #expect(view["version"]?.numberValue == 1)

            // branch-a has enough impostors for its own conservative threshold (≥ 299 at 1e-2); branch-b
            // falls back to the camera-model pool.
            let release = try WireJSON.decoder().decode(ThresholdRelease.self, from: Data(try #require(view["release"]).serializedString.utf8))
            let keyA = CohortKey(modelVersion: "dlib_face_recognition_resnet_model_v1", cameraModel: "cam-1", cohort: "branch-a")
            let keyB = CohortKey(modelVersion: "dlib_face_recognition_resnet_model_v1", cameraModel: "cam-1", cohort: "branch-b")
            let entryA = try #require(release.entry(for: keyA))
            #expect(entryA.fallbackLevel == .cohort)
            #expect(release.entry(for: keyB)?.fallbackLevel == .cameraModel)
            // The server's threshold equals the one computed here from the same raw scores: the larger
            // of the Clopper–Pearson conservative threshold and the subjects bootstrap's over the
            // subjects' groups.
            let impostorsA = siteA.filter { $0.1 == "impostor" }.map(\.0)
            let expected = try ClopperPearson(confidence: 0.95).conservativeThreshold(impostors: try SortedScores(impostorsA), targetFMR: 0.01)
            var groups = ImpostorSubjects(layout: CohortStatistics.liveLayout)
            for (index, element) in siteA.enumerated() where element.1 == "impostor" {
                try groups.add(score: element.0, subject: Self.subject(index))
            }
            let bootstrap = try SubjectBootstrap(resamples: 1_000, confidence: 0.95, seed: 0x5EED_F00D)
            #expect(entryA.threshold == max(expected.threshold, try bootstrap.resampling(of: groups).threshold(targetFMR: 0.01)))
            #expect(entryA.precision == .exact)
            // 30 subjects, of whom some share a group: the count is a lower bound.
            #expect(entryA.subjectCount == groups.nonEmptyGroups)
            #expect(groups.nonEmptyGroups > 20 && groups.nonEmptyGroups <= 30)
            #expect((entryA.subjectFMRUpperBound ?? 1) <= 0.01)

            // Publishing before approval is refused with its problem type.
            let early = try cli(server, ["thresholds", "publish", "1"], token: alice)
            #expect(early.status != 0 && early.stderr.contains("release-state-conflict"), "\(early.stderr)")
            // The token that computed a release may not approve it; another person (here the admin) does.
            let selfApproval = try cli(server, ["thresholds", "approve", "1"], token: alice)
            #expect(selfApproval.status != 0 && selfApproval.stderr.contains("self-approval"), "\(selfApproval.stderr)")
            #expect(try cli(server, ["thresholds", "approve", "1"]).status == 0)
            let published = try cli(server, ["thresholds", "publish", "1", "--json"], token: alice)
            #expect(published.status == 0, "\(published.stderr)")
            #expect(try JSONValue.parse(published.stdout)["state"]?.stringValue == "published")

            // The kiosk pulls, verifies with the key pinned at enrollment, and applies its cohort's threshold.
            let pulled = try runTool("faceloop-agent", ["thresholds", "pull", "--json", "--data-dir", kiosk, "--site", "branch-a", "--camera-model", "cam-1"])
            #expect(pulled.status == 0, "\(pulled.stderr)")
            let applied = try JSONValue.parse(pulled.stdout)
            #expect(applied["threshold"]?.numberValue == entryA.threshold)
            #expect(applied["release_version"]?.numberValue == 1)

            // Engineers can pull and verify too.
            let enginePull = try cli(server, ["thresholds", "pull", "--release-key", (server.dataDirectory as NSString).appendingPathComponent("release-signing.pub")], token: alice)
            #expect(enginePull.status == 0, "\(enginePull.stderr)")

            // A tampered release on the kiosk is refused: change the threshold inside the signed payload.
            let file = (kiosk as NSString).appendingPathComponent("thresholds.json")
            var envelope = try WireJSON.decoder().decode(SignedRelease.self, from: try Data(contentsOf: URL(fileURLWithPath: file)))
            let payload = String(decoding: try #require(Data(base64Encoded: envelope.payload)), as: UTF8.self)
            let forged = payload.replacingOccurrences(of: "\"threshold\":\(entryA.threshold)", with: "\"threshold\":0.1")
            #expect(forged != payload)
            envelope.payload = Data(forged.utf8).base64EncodedString()
            try WireJSON.encoder().encode(envelope).write(to: URL(fileURLWithPath: file))
            let show = try runTool("faceloop-agent", ["thresholds", "show", "--data-dir", kiosk, "--site", "branch-a", "--camera-model", "cam-1"])
            #expect(show.status != 0)
            #expect(show.stderr.contains("release refused"), "\(show.stderr)")

            // Impostor scores shift upwards after the release: drift is flagged for branch-a.
            let shifted = Self.scores(seed: 99, impostors: 3000, genuine: 10).map { (min($0.0 + ($0.1 == "impostor" ? 0.3 : 0), 1), $0.1) }
            #expect(try TestConsent.recordOutcomes(Self.lines(shifted, site: "branch-a", camera: "cam-1", attemptedAt: Date()), server: server, directory: kiosk).status == 0)
            #expect(try runTool("faceloop-agent", ["upload", "--data-dir", kiosk]).status == 0)
            let drift = try JSONValue.parse(try cli(server, ["thresholds", "drift", "--json"], token: alice).stdout)
            let driftA = drift["cohorts"]?.arrayValue?.first { $0["cohort"]?["cohort"]?.stringValue == "branch-a" }
            let flags = driftA?["report"]?["flags"]?.arrayValue?.compactMap(\.stringValue) ?? []
            #expect(flags.contains("falseMatchRateAboveTarget"), "\(flags)")
            #expect(flags.contains("impostorDistributionShift"), "\(flags)")

            // A second computation that moves a threshold beyond the guardrail needs two approvers.
            let second = try JSONValue.parse(try cli(server, ["thresholds", "compute", "--target-fmr", "0.01", "--json"], token: alice).stdout)
            #expect(second["required_approvals"]?.numberValue == 2, "\(second.serializedString.prefix(600))")
            // Approvals count tokens, not labels: a second token labelled "alice" is a second approver,
            // and the same token approving twice is still one.
            let aliceAgain = try cli(server, ["tokens", "create", "--role", "engineer", "--label", "alice"]).stdout
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try cli(server, ["thresholds", "approve", "2"], token: alice).stderr.contains("self-approval"))
            #expect(try JSONValue.parse(try cli(server, ["thresholds", "approve", "2", "--json"], token: aliceAgain).stdout)["state"]?.stringValue == "computed")
            #expect(try JSONValue.parse(try cli(server, ["thresholds", "approve", "2", "--json"], token: aliceAgain).stdout)["state"]?.stringValue == "computed")
            #expect(try JSONValue.parse(try cli(server, ["thresholds", "approve", "2", "--json"]).stdout)["state"]?.stringValue == "approved")
            #expect(try cli(server, ["thresholds", "publish", "2"], token: alice).status == 0)
            // Roll back to release 1: it is current again, release 2 is marked rolled back.
            let rollback = try cli(server, ["thresholds", "rollback", "1", "--json"], token: alice)
            #expect(rollback.status == 0, "\(rollback.stderr)")
            let list = try JSONValue.parse(try cli(server, ["thresholds", "list", "--json"]).stdout)
            let states = list["releases"]?.arrayValue?.compactMap { $0["state"]?.stringValue }
            #expect(states == ["published", "rolled_back"])

            // The threshold endpoints' real responses against the OpenAPI document.
            let openAPI = try OpenAPIConformance()
            let (kioskClient, _) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: kiosk)
            let people = RawClient(baseURL: server.baseURL, caPEM: kioskClient.caPEM, identity: nil)
            let engineer = ["authorization": "Bearer \(alice)"]
            let json = ["content-type": "application/json"]
            for (client, method, path, template, headers, body) in [
                (people, "GET", "/v1/thresholds/releases", "/v1/thresholds/releases", engineer, nil),
                (people, "GET", "/v1/thresholds/releases/2", "/v1/thresholds/releases/{version}", engineer, nil),
                (people, "GET", "/v1/thresholds/releases/9", "/v1/thresholds/releases/{version}", engineer, nil),
                (people, "GET", "/v1/thresholds/drift", "/v1/thresholds/drift", engineer, nil),
                (kioskClient, "GET", "/v1/thresholds/current", "/v1/thresholds/current", [:], nil),
                (people, "GET", "/v1/thresholds/current", "/v1/thresholds/current", [:], nil),
                (people, "POST", "/v1/thresholds/releases/1/publish", "/v1/thresholds/releases/{version}/publish", engineer, nil),
                (people, "POST", "/v1/thresholds/releases", "/v1/thresholds/releases", engineer.merging(json) { $1 },
                 Array(#"{"target_fmr": 2}"#.utf8)),
                (people, "POST", "/v1/admin/tokens", "/v1/admin/tokens", engineer.merging(json) { $1 },
                 Array(#"{"role":"engineer","label":"bob"}"#.utf8)),
            ] as [(RawClient, String, String, String, [String: String], [UInt8]?)] {
                let response = try await client.send(method, path, headers: headers, body: body)
                try openAPI.check(method: method, template: template, status: response.status, contentType: response.contentType,
                                  body: response.body)
            }
            #expect(openAPI.checked.contains("GET /v1/thresholds/current 200"))
            #expect(openAPI.checked.contains("POST /v1/admin/tokens 403"), "an engineer may not issue tokens")
        }
    }
}

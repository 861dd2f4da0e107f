import Federation
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import SeededRandom
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// Four kiosks join a DP-FedAvg round; one uploads an out-of-bound update that is left
    /// out; the server restarts mid-round without losing the updates it holds; the release is
    /// published, pulled and verified by the kiosks, and a tampered copy is refused. A straggler
    /// after the deadline is refused, and the ε budget refuses a round that would exceed it.
    @Suite("Federated rounds end to end")
    struct FederatedRoundEndToEndTests {
        /// Synthetic kiosks whose identity lives in the first 8 of 128 dimensions and whose
        /// capture conditions add noise to the other 120: an adapter that damps those helps.
        /// `clutter`: the spread of the 120 dimensions that carry no identity (what an adapter can learn to damp).
        static func pairs(seed: UInt64, subjects: Int, perSubject: Int, clutter: Double = 0.3) -> Data {
            var noise = SeededGaussianNoise(generator: SeededGenerator(seed: seed))
            let identityDimensions = 8
            func descriptor(_ identity: [Double]) -> [Double] {
                identity.map { $0 + 0.1 * noise.nextStandardNormal() }
                    + (identityDimensions..<Adapter.faceDescriptorDimension).map { _ in clutter * noise.nextStandardNormal() }
            }
            let identities = (0..<subjects).map { _ in (0..<identityDimensions).map { _ in noise.nextStandardNormal() } }
            var entries: [JSONValue] = []
            func entry(_ first: [Double], _ second: [Double], genuine: Bool, subjects: [Int]) -> JSONValue {
                .object([("first", .array(first.map(JSONValue.number))), ("second", .array(second.map(JSONValue.number))),
                         ("genuine", .bool(genuine)), ("subjects", .array(subjects.map { .string(pseudonym(seed: seed, $0)) }))])
            }
            for (index, identity) in identities.enumerated() {
                for _ in 0..<perSubject {
                    let anchor = descriptor(identity)
                    let other = (index + 1 + perSubject) % subjects
                    entries.append(entry(anchor, descriptor(identity), genuine: true, subjects: [index]))
                    entries.append(entry(anchor, descriptor(identities[other]), genuine: false, subjects: [index, other]))
                }
            }
            return Data(JSONValue.object([("pairs", .array(entries))]).serializedString.utf8)
        }

        /// The public impostor set shipped to the kiosks: captures of people who are nobody's subject.
        static func publicImpostors(seed: UInt64, people: Int) -> Data {
            var noise = SeededGaussianNoise(generator: SeededGenerator(seed: seed))
            let descriptors = (0..<people).map { _ -> JSONValue in
                let identity = (0..<8).map { _ in noise.nextStandardNormal() }
                let values = identity.map { $0 + 0.1 * noise.nextStandardNormal() }
                    + (8..<Adapter.faceDescriptorDimension).map { _ in 0.3 * noise.nextStandardNormal() }
                return .array(values.map(JSONValue.number))
            }
            return Data(JSONValue.object([("descriptors", .array(descriptors))]).serializedString.utf8)
        }

        static func pseudonym(seed: UInt64, _ subject: Int) -> String { String(format: "%064x", Int(seed) * 1000 + subject) }

        /// Model-improvement grants, recorded on the kiosk, for the subjects of its pairs.
        static func grants(seed: UInt64, subjects: Int) -> Data {
            let lines = (0..<subjects).map { subject in
                JSONValue.object([
                    ("occurred_at", .string("2020-01-02T00:00:00Z")), ("subject_pseudonym", .string(pseudonym(seed: seed, subject))),
                    ("purpose", .string("model-improvement")), ("kind", .string("grant")), ("method", .string("touch")),
                    ("site", .string(site)), ("text_version", .string(TestConsent.version)), ("text_sha256", .string(TestConsent.sha256)),
                ]).serializedString
            }
            return Data(lines.joined(separator: "\n").utf8)
        }

        func cli(_ server: ServerProcess, _ arguments: [String], token: String? = nil) throws -> CommandResult {
            var args = arguments + ["--server", server.baseURL, "--ca-file", server.caFile]
            if let token { args += ["--token", token] } else { args += ["--token-file", server.adminTokenFile] }
            return try runTool("faceloop", args)
        }

        /// Where every kiosk of the round stands: its consent events and its cohort name it.
        static let site = "branch-f"

        func enroll(_ server: ServerProcess, id: String, directory: String) throws {
            try enrollKiosk(server, id: id, sites: [Self.site], directory: directory)
        }

        @Test("quorum, restart mid-round, out-of-bound update left out, signed release pulled and verified, deadline and budget refusals")
        func roundFlow() async throws {
            let root = try temporaryDirectory("federation")
            defer { try? FileManager.default.removeItem(atPath: root) }
            func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
            // The gate's pairs are the honest kiosks' own: this test is about the round's workflow, and a
            // gain on pairs the kiosks never saw is too small for three kiosks to show reliably at any
            // noise the PLD accountant can still state (the gate itself is tested in RoundCloserTests).
            let ownPairs = try [1, 2, 4].flatMap { seed in
                try JSONValue.parse([UInt8](Self.pairs(seed: UInt64(seed), subjects: 20, perSubject: 3)))["pairs"]?.arrayValue ?? []
            }
            try Data(JSONValue.object([("pairs", .array(ownPairs))]).serializedString.utf8).write(to: URL(fileURLWithPath: path("held-out.json")))
            try Self.publicImpostors(seed: 200, people: 100).write(to: URL(fileURLWithPath: path("public-impostors.json")))
            // Two rounds at z = 0.07, q = 1 fit in ε = 350 at δ = 1e-6 (RDP about 175 after one, 309 after two); a third
            // (434) does not. Not a private configuration: with three honest kiosks the gate, which releases only a candidate
            // better at its operating point, sees noise at z = 0.2 outweigh what they learn.
            let server = ServerProcess(dataDirectory: path("server"), environment: [
                "FACELOOP_FEDERATION_EVALUATION_PAIRS": path("held-out.json"), "FACELOOP_FEDERATION_EPSILON_BUDGET": "350",
                // The gate judges FNMR at this FMR: 60 held-out impostor pairs cannot resolve 1e-3.
                "FACELOOP_ROLLOUT_TARGET_FMR": "0.2",
            ])
            try server.start()
            defer { server.stop() }

            let kiosks = ["kiosk-f1", "kiosk-f2", "kiosk-f3", "kiosk-f4"]
            let honest = ["kiosk-f1", "kiosk-f2", "kiosk-f4"]
            // Kiosks train only on subjects whose model-improvement consent the server holds too.
            try TestConsent.registerText(server, purpose: "model-improvement")
            for (index, id) in kiosks.enumerated() {
                try enroll(server, id: id, directory: path(id))
                try Self.pairs(seed: UInt64(index + 1), subjects: 20, perSubject: 3).write(to: URL(fileURLWithPath: path("\(id)-pairs.json")))
                let consent = try runTool("faceloop-agent", ["consent", "--stdin", "--data-dir", path(id)],
                                          stdin: Self.grants(seed: UInt64(index + 1), subjects: 20))
                #expect(consent.status == 0, "\(consent.stderr)")
            }
            let grant = try cli(server, ["tokens", "create", "--role", "engineer", "--label", "erin"])
            let erin = grant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(grant.status == 0 && !erin.isEmpty, "\(grant.stderr)")

            let roundOptions = ["--clipping-norm", "0.5", "--noise-multiplier", "0.07", "--sampling-rate", "1", "--minimum-clients", "4",
                                "--learning-rate", "0.5", "--epochs", "3", "--loss-scale", "10", "--tail-fraction", "0.02", "--json"]
            let opened = try cli(server, ["rounds", "open", "--deadline", "600"] + roundOptions, token: erin)
            #expect(opened.status == 0, "\(opened.stderr)")
            let openedView = try JSONValue.parse(opened.stdout)
            #expect(openedView["state"]?.stringValue == "open")
            #expect(openedView["round"]?["selected_devices"]?.arrayValue?.compactMap(\.stringValue) == kiosks)
            let second = try cli(server, ["rounds", "open", "--deadline", "600"] + roundOptions, token: erin)
            #expect(second.status != 0 && second.stderr.contains("round-open"), "\(second.stderr)")

            let status = try runTool("faceloop-agent", ["federation", "status", "--json", "--data-dir", path("kiosk-f1")])
            #expect(status.status == 0, "\(status.stderr)")
            #expect(try JSONValue.parse(status.stdout)["round"]?["selected"] == .bool(true))

            // Three honest kiosks train and upload; then the server restarts in the middle of the round.
            for id in honest {
                let trained = try runTool("faceloop-agent", ["federation", "train", "--json", "--data-dir", path(id), "--pairs", path("\(id)-pairs.json"),
                                                        "--impostors", path("public-impostors.json")])
                #expect(trained.status == 0, "\(trained.stderr)")
                let report = try JSONValue.parse(trained.stdout)
                #expect((report["loss_after"]?.numberValue ?? 1) < (report["loss_before"]?.numberValue ?? 0))
                #expect((report["receipt"]?["norm"]?.numberValue ?? 1) <= 0.5 * (1 + 1e-5))
            }
            #expect(server.stop() == 0)
            try server.start()
            let afterRestart = try JSONValue.parse(try cli(server, ["rounds", "status", "1", "--json"], token: erin).stdout)
            #expect(afterRestart["state"]?.stringValue == "open")
            #expect(afterRestart["updates_received"]?.numberValue == 3, "\(afterRestart.serializedString.prefix(300))")

            // The fourth kiosk, kiosk-f3, skips clipping and boosts its update: a correctly signed upload through
            // the kiosk path, far above C. It completes the quorum and is left out of the aggregate.
            let openAPI = try OpenAPIConformance()
            let (boosting, boostingKey) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: path("kiosk-f3"))
            let boosted = ModelUpdate(values: [Float](repeating: 0.05, count: 128 * 128), exampleCount: 120)
            let boostedBody = try ModelUpdateUpload(deviceID: "kiosk-f3", roundID: 1, baseVersion: 0, update: boosted).encoded()
            func signed(_ body: [UInt8], round: Int, device: String = "kiosk-f3") throws -> [String: String] {
                try UploadSignaturePolicy.signUpload(method: "POST", path: "/v1/federation/rounds/\(round)/updates", authority: "",
                                                     body: body, keyID: device, key: boostingKey, now: Date())
            }
            // An update trained on too few pairs gives them away; it is refused and nothing is stored.
            let thin = try ModelUpdateUpload(deviceID: "kiosk-f3", roundID: 1, baseVersion: 0,
                                             update: ModelUpdate(values: boosted.values, exampleCount: 3)).encoded()
            let thinRefusal = try await boosting.send("POST", "/v1/federation/rounds/1/updates", headers: try signed(thin, round: 1), body: thin)
            #expect(thinRefusal.problemSlug == "too-few-pairs" && thinRefusal.status == 422, "\(String(decoding: thinRefusal.body, as: UTF8.self))")
            try openAPI.check(method: "POST", template: "/v1/federation/rounds/{round}/updates", status: thinRefusal.status,
                              contentType: thinRefusal.contentType, body: thinRefusal.body)
            let accepted = try await boosting.send("POST", "/v1/federation/rounds/1/updates", headers: try signed(boostedBody, round: 1),
                                                   body: boostedBody)
            #expect(accepted.status == 202, "\(String(decoding: accepted.body, as: UTF8.self))")
            try openAPI.check(method: "POST", template: "/v1/federation/rounds/{round}/updates", status: accepted.status,
                              contentType: accepted.contentType, body: accepted.body)

            let closed = try JSONValue.parse(try cli(server, ["rounds", "status", "1", "--json"], token: erin).stdout)
            #expect(closed["state"]?.stringValue == "published", "\(closed["outcome"]?.serializedString ?? "no outcome")")
            #expect(closed["outcome"]?["accepted"]?.arrayValue?.compactMap(\.stringValue) == ["kiosk-f1", "kiosk-f2", "kiosk-f4"])
            #expect(closed["outcome"]?["rejected"]?.arrayValue?.first?["device_id"]?.stringValue == "kiosk-f3")
            let baselineFNMR = try #require(closed["outcome"]?["baseline"]?["fnmr"]?.numberValue)
            let candidateFNMR = try #require(closed["outcome"]?["candidate"]?["fnmr"]?.numberValue)
            #expect(candidateFNMR < baselineFNMR)
            #expect(closed["outcome"]?["release_version"]?.numberValue == 1)

            // The round is over: another upload is refused with its own problem type.
            let again = try await boosting.send("POST", "/v1/federation/rounds/1/updates", headers: try signed(boostedBody, round: 1),
                                                body: boostedBody)
            #expect(again.status == 200, "a retry of the same bytes gets the stored receipt")
            let different = try ModelUpdateUpload(deviceID: "kiosk-f3", roundID: 1, baseVersion: 0,
                                                  update: ModelUpdate(values: [Float](repeating: 0, count: 128 * 128), exampleCount: 120)).encoded()
            let refused = try await boosting.send("POST", "/v1/federation/rounds/1/updates", headers: try signed(different, round: 1), body: different)
            #expect(refused.problemSlug == "round-closed", "\(String(decoding: refused.body, as: UTF8.self))")

            // Kiosks pull the signed release and verify it with the key pinned at enrollment.
            for id in kiosks {
                let pulled = try runTool("faceloop-agent", ["federation", "pull", "--json", "--data-dir", path(id)])
                #expect(pulled.status == 0, "\(pulled.stderr)")
                let summary = try JSONValue.parse(pulled.stdout)
                #expect(summary["version"]?.numberValue == 1)
                #expect(summary["privacy"]?["clipping_norm"]?.numberValue == 0.5)
                #expect(summary["privacy"]?["noise_multiplier"]?.numberValue == 0.07)
                let epsilon = try #require(summary["privacy"]?["cumulative_epsilon_rdp"]?.numberValue)
                #expect(epsilon > 150 && epsilon < 350, "\(epsilon)")
                #expect((summary["privacy"]?["cumulative_epsilon_pld"]?.numberValue ?? .infinity) <= epsilon)
            }
            let models = try cli(server, ["models", "pull", "--json", "--release-key", (server.dataDirectory as NSString).appendingPathComponent("release-signing.pub")], token: erin)
            #expect(models.status == 0, "\(models.stderr)")

            // A tampered model file on a kiosk is refused before use.
            let modelFile = (path("kiosk-f2") as NSString).appendingPathComponent("model.json")
            var envelope = try WireJSON.decoder().decode(SignedRelease.self, from: try Data(contentsOf: URL(fileURLWithPath: modelFile)))
            let signedPayload = String(decoding: try #require(Data(base64Encoded: envelope.payload)), as: UTF8.self)
            #expect(!signedPayload.contains("kiosk-f"), "the release every kiosk downloads names no participant")
            #expect(signedPayload.contains(#""rejected_count":1"#))
            var release = try ModelReleaseCoding.decode([UInt8](try #require(Data(base64Encoded: envelope.payload))))
            release.modelVersion = "forged"
            envelope.payload = Data(try ModelReleaseCoding.canonicalBytes(release)).base64EncodedString()
            try WireJSON.encoder().encode(envelope).write(to: URL(fileURLWithPath: modelFile))
            let tampered = try runTool("faceloop-agent", ["federation", "status", "--data-dir", path("kiosk-f2")])
            #expect(tampered.status != 0)
            #expect(tampered.stderr.contains("release refused"), "\(tampered.stderr)")

            // A pulled release decides nothing: it is a rollout candidate. In shadow, `verify` still
            // decides with the backbone and scores the same descriptors with the adapter too.
            let images = VerificationOutcomeTests.images
            func verify(_ directory: String) throws -> JSONValue {
                let result = try runTool("faceloop-agent", ["verify", "--data-dir", directory, "--json",
                                                            "--reference", images.appendingPathComponent("obama_1.jpg").path,
                                                            "--probe", images.appendingPathComponent("obama_2.jpg").path],
                                         environment: VerificationOutcomeTests.environment)
                #expect(result.status == 0, "\(result.stderr)")
                return try JSONValue.parse(result.stdout)
            }
            let pulledOnly = try verify(path("kiosk-f1"))
            #expect(pulledOnly["result"]?["modelVersion"]?.stringValue == "dlib_face_recognition_resnet_model_v1")
            #expect(pulledOnly["shadow"] == nil)
            #expect(try cli(server, ["models", "shadow", "1"], token: erin).status == 0)
            let sync = try runTool("faceloop-agent", ["models", "sync", "--data-dir", path("kiosk-f1"), "--site", Self.site,
                                                      "--camera-model", "cam-f"])
            #expect(sync.status == 0, "\(sync.stderr)")
            let shadowed = try verify(path("kiosk-f1"))
            let plain = try verify(path("no-release"))
            #expect(shadowed["result"]?["modelVersion"]?.stringValue == "dlib_face_recognition_resnet_model_v1")
            #expect(shadowed["result"]?["score"] == plain["result"]?["score"], "the backbone still decides")
            #expect(shadowed["shadow"]?["modelVersion"]?.stringValue == "dlib_face_recognition_resnet_model_v1:adapter-1")
            #expect(shadowed["shadow"]?["score"] != plain["result"]?["score"], "the adapter changes the shadow score")
            #expect(try cli(server, ["models", "rollback", "1", "--reason", "this test goes on with round 2"], token: erin).status == 0)

            // Round 2 closes at its deadline with one update of four: it fails, and the straggler is refused.
            let round2 = try cli(server, ["rounds", "open", "--deadline", "10"] + roundOptions, token: erin)
            #expect(round2.status == 0, "\(round2.stderr)")
            #expect(try JSONValue.parse(round2.stdout)["round"]?["base_version"]?.numberValue == 1)
            let early = try runTool("faceloop-agent", ["federation", "train", "--data-dir", path("kiosk-f1"), "--pairs", path("kiosk-f1-pairs.json"), "--impostors", path("public-impostors.json")])
            #expect(early.status == 0, "\(early.stderr)")
            try await Task.sleep(for: .seconds(12))
            let straggler = try runTool("faceloop-agent", ["federation", "train", "--data-dir", path("kiosk-f3"), "--pairs", path("kiosk-f3-pairs.json"), "--impostors", path("public-impostors.json")])
            #expect(straggler.status != 0)
            let lateBody = try ModelUpdateUpload(deviceID: "kiosk-f3", roundID: 2, baseVersion: 1, update: boosted).encoded()
            let late = try await boosting.send("POST", "/v1/federation/rounds/2/updates", headers: try signed(lateBody, round: 2), body: lateBody)
            #expect(late.problemSlug == "round-closed", "\(String(decoding: late.body, as: UTF8.self))")
            try openAPI.check(method: "POST", template: "/v1/federation/rounds/{round}/updates", status: late.status,
                              contentType: late.contentType, body: late.body)
            let failed = try JSONValue.parse(try cli(server, ["rounds", "status", "2", "--json"], token: erin).stdout)
            #expect(failed["state"]?.stringValue == "failed")
            #expect(failed["outcome"]?["reason"]?.stringValue?.contains("1 of the 4") == true)

            // A third round would exceed ε = 350: refused, with the reason.
            let exhausted = try cli(server, ["rounds", "open", "--deadline", "600"] + roundOptions, token: erin)
            #expect(exhausted.status != 0)
            #expect(exhausted.stderr.contains("privacy-budget-exhausted") && exhausted.stderr.contains("above the budget"), "\(exhausted.stderr)")

            // The federation endpoints' real responses against the OpenAPI document.
            let (kioskClient, _) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: path("kiosk-f1"))
            let people = RawClient(baseURL: server.baseURL, caPEM: kioskClient.caPEM, identity: nil)
            let engineer = ["authorization": "Bearer \(erin)"]
            let json = ["content-type": "application/json"]
            for (client, method, requestPath, template, headers, body) in [
                (people, "GET", "/v1/federation/rounds", "/v1/federation/rounds", engineer, nil),
                (people, "GET", "/v1/federation/rounds/1", "/v1/federation/rounds/{round}", engineer, nil),
                (people, "GET", "/v1/federation/rounds/7", "/v1/federation/rounds/{round}", engineer, nil),
                (people, "POST", "/v1/federation/rounds/1/close", "/v1/federation/rounds/{round}/close", engineer, nil),
                (people, "POST", "/v1/federation/rounds", "/v1/federation/rounds", engineer.merging(json) { $1 },
                 Array(#"{"clipping_norm":0.5,"noise_multiplier":0.07,"sampling_rate":1,"minimum_clients":3,"deadline_seconds":60}"#.utf8)),
                (people, "POST", "/v1/federation/rounds", "/v1/federation/rounds", engineer.merging(json) { $1 },
                 Array(#"{"clipping_norm":-1,"noise_multiplier":0.2,"sampling_rate":1,"minimum_clients":3,"deadline_seconds":60}"#.utf8)),
                (kioskClient, "GET", "/v1/federation/current", "/v1/federation/current", [:], nil),
                (people, "GET", "/v1/federation/current", "/v1/federation/current", [:], nil),
                (people, "GET", "/v1/models/releases", "/v1/models/releases", engineer, nil),
                (people, "GET", "/v1/models/releases/1", "/v1/models/releases/{version}", engineer, nil),
                (people, "GET", "/v1/models/releases/5", "/v1/models/releases/{version}", engineer, nil),
                (kioskClient, "GET", "/v1/models/current", "/v1/models/current", [:], nil),
                (people, "GET", "/v1/models/current", "/v1/models/current", [:], nil),
            ] as [(RawClient, String, String, String, [String: String], [UInt8]?)] {
                let response = try await client.send(method, requestPath, headers: headers, body: body)
                try openAPI.check(method: method, template: template, status: response.status, contentType: response.contentType,
                                  body: response.body)
            }
            #expect(openAPI.checked.contains("GET /v1/models/current 200"))
            #expect(openAPI.checked.contains("POST /v1/federation/rounds 409"), "the budget refusal")
            #expect(openAPI.checked.contains("GET /v1/federation/current 404"), "no round is open")
        }
    }
}

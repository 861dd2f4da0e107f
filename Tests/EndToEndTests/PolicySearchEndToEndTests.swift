import FeedbackWire
import Foundation
import StrictJSON
import TestSupport
import Testing

extension EndToEnd {
    /// A policy search with the real binaries: `faceloop policy-search start` publishes two
    /// candidate releases that the cohort's kiosk is told to score; the kiosk uploads outcomes
    /// carrying their shadow scores (consented subjects); `show` ranks the candidate that accepts
    /// more genuine attempts first, each model at its exact threshold for the target FMR, and makes
    /// it the leader; `propose` is refused until thresholds computed from that traffic are
    /// published, then moves the leader to canary and the kiosk's assignment changes. Bad requests are refused with problem details, and every
    /// response is checked against the OpenAPI document.
    @Suite("Policy search end to end")
    struct PolicySearchEndToEndTests {
        static let device = "kiosk-ps1"
        static let subjects = (0..<20).map { String(repeating: "0", count: 62) + String(format: "%02x", $0) }
        static let helpful = #"{"clahe":{"tiles_x":8,"tiles_y":8,"clip_limit":2}}"#
        static let neutral = #"{"white_balance":{"strength":1}}"#

        func cli(_ server: ServerProcess, _ arguments: [String], token: String? = nil) throws -> CommandResult {
            var args = arguments + ["--server", server.baseURL, "--ca-file", server.caFile]
            if let token { args += ["--token", token] } else { args += ["--token-file", server.adminTokenFile] }
            return try runTool("faceloop", args)
        }

        func json(_ server: ServerProcess, _ arguments: [String], token: String? = nil) throws -> JSONValue {
            let result = try cli(server, arguments + ["--json"], token: token)
            #expect(result.status == 0, "faceloop \(arguments.joined(separator: " ")): \(result.stderr)")
            return try JSONValue.parse(result.stdout)
        }

        static func outcome(subject: Int, label: MatchOutcome.Label, score: Double, shadowScores: [MatchOutcome.ShadowScore]) -> MatchOutcome {
            var outcome = SampleBatch.outcome(label: label, score: score, decision: .reject, attemptedAt: Date().addingTimeInterval(-60),
                                              modelVersion: "dlib_face_recognition_resnet_model_v1", thresholdVersion: "t-0",
                                              cohort: .init(site: "lobby", cameraModel: "cam-a"),
                                              subject: .init(pseudonym: subjects[subject], consentRef: "c"))
            outcome.shadowScores = shadowScores
            return outcome
        }

        @Test("start → the kiosk scores the candidates → show ranks the better one first → thresholds for all → propose moves it to canary; bad input refused")
        func search() async throws {
            let root = try temporaryDirectory("policy-search")
            defer { try? FileManager.default.removeItem(atPath: root) }
            func path(_ name: String) -> String { (root as NSString).appendingPathComponent(name) }
            let server = ServerProcess(dataDirectory: path("server"), environment: [
                "FACELOOP_ROLLOUT_TARGET_FMR": "0.1", "FACELOOP_ROLLOUT_DRIFT_CHECK_SECONDS": "3600",
            ])
            try server.start()
            defer { server.stop() }
            let openAPI = try OpenAPIConformance()
            let grant = try cli(server, ["tokens", "create", "--role", "engineer", "--label", "erin"])
            #expect(grant.status == 0, "\(grant.stderr)")
            let erin = grant.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            try TestConsent.registerText(server, purpose: "threshold-calibration")
            try TestConsent.registerText(server, purpose: "model-improvement")
            let kioskDirectory = path("kiosk")
            try enrollKiosk(server, id: Self.device, sites: ["lobby"], directory: kioskDirectory)
            let (kiosk, key) = try RawClient.kiosk(baseURL: server.baseURL, agentDirectory: kioskDirectory)
            let people = RawClient(baseURL: server.baseURL, caPEM: kiosk.caPEM, identity: nil)
            let engineer = ["authorization": "Bearer \(erin)", "content-type": "application/json"]
            func send(_ method: String, _ target: String, _ template: String, body: String? = nil, client: RawClient? = nil,
                      headers: [String: String]? = nil) async throws -> RawResponse {
                let response = try await (client ?? people).send(method, target, headers: headers ?? engineer, body: body.map { Array($0.utf8) })
                try openAPI.check(method: method, template: template, status: response.status, contentType: response.contentType,
                                  body: response.body)
                return response
            }
            func upload(_ outcomes: [MatchOutcome], sequence: Int64, consents: [ConsentEvent] = []) async throws {
                let body = OutcomeBatch(deviceID: Self.device, sequence: sequence, createdAt: Date(), outcomes: outcomes,
                                        consentEvents: consents).encoded()
                var headers = try RawClient.signedHeaders(body: body, keyID: Self.device, key: key)
                headers["content-type"] = "application/json"
                let response = try await send("POST", "/v1/outcomes", "/v1/outcomes", body: String(decoding: body, as: UTF8.self), client: kiosk,
                                              headers: headers)
                #expect(response.status == 202, "\(String(decoding: response.body, as: UTF8.self))")
                let receipt = try JSONValue.parse(response.body)
                #expect(receipt["refused_events"]?.arrayValue?.isEmpty == true, "\(receipt.serializedString)")
                #expect(receipt["shadow_scores_dropped"]?.numberValue ?? 0 == 0, "every subject consented to model improvement")
            }

            // The cohort exists once its kiosk has uploaded; every subject consents to both purposes.
            let consents = Self.subjects.flatMap { subject in
                ["threshold-calibration", "model-improvement"].map { purpose in
                    ConsentEvent(eventID: UUID(), occurredAt: Date(timeIntervalSince1970: 1_577_923_200), pseudonym: subject, purpose: purpose,
                                 kind: .grant, method: .touch, site: "lobby", textVersion: TestConsent.version, textSHA256: TestConsent.sha256)
                }
            }
            try await upload([Self.outcome(subject: 0, label: .genuine, score: 0.8, shadowScores: [])], sequence: 1, consents: consents)

            // Refused, and nothing is published: an unknown cohort, a bad policy (CLI and API), too many candidates.
            let unknown = try await send("POST", "/v1/policy-searches", "/v1/policy-searches",
                                         body: #"{"camera_model":"cam-z","site":"lobby"}"#)
            #expect(unknown.status == 400 && unknown.problemSlug == "invalid-request")
            let badPolicy = try await send("POST", "/v1/policy-searches", "/v1/policy-searches",
                                           body: #"{"camera_model":"cam-a","site":"lobby","candidates":[{"clahe":{"tiles_x":0,"tiles_y":8,"clip_limit":2}}]}"#)
            #expect(badPolicy.status == 422 && badPolicy.problemSlug == "schema-violation")
            let problem = try WireJSON.decoder().decode(ProblemDetails.self, from: Data(badPolicy.body))
            #expect(problem.errors?.first?.pointer == "/candidates/0/clahe/tiles_x", "\(problem)")
            #expect(problem.detail?.contains("must be an integer from 1 to 16, not 0") == true, "\(problem)")
            let nine = "[" + Array(repeating: Self.helpful, count: 9).joined(separator: ",") + "]"
            let tooMany = try await send("POST", "/v1/policy-searches", "/v1/policy-searches",
                                         body: #"{"camera_model":"cam-a","site":"lobby","candidates":"# + nine + "}")
            #expect(tooMany.status == 422)
            try Data(#"[{"clahe":{"tiles_x":0,"tiles_y":8,"clip_limit":2}}]"#.utf8).write(to: URL(fileURLWithPath: path("bad.json")))
            let badFile = try cli(server, ["policy-search", "start", "--camera-model", "cam-a", "--site", "lobby", "--candidates", path("bad.json")],
                                  token: erin)
            #expect(badFile.status != 0 && badFile.stderr.contains("clahe.tiles_x must be an integer from 1 to 16"), "\(badFile.stderr)")
            #expect(try json(server, ["models", "rollouts"], token: erin)["rollouts"]?.arrayValue?.isEmpty == true)

            // Start: two candidate releases, scored by the cohort's kiosk.
            try Data("[\(Self.helpful),\(Self.neutral)]".utf8).write(to: URL(fileURLWithPath: path("candidates.json")))
            let started = try json(server, ["policy-search", "start", "--camera-model", "cam-a", "--site", "lobby",
                                            "--candidates", path("candidates.json")], token: erin)
            let candidates = started["candidates"]?.arrayValue ?? []
            #expect(candidates.compactMap { $0["version"]?.numberValue } == [1, 2], "\(started.serializedString)")
            let helpful = try #require(candidates.first?["model_version"]?.stringValue)
            let neutral = try #require(candidates.last?["model_version"]?.stringValue)
            let assigned = try await send("GET", "/v1/kiosk/model-assignment?site=lobby&camera_model=cam-a", "/v1/kiosk/model-assignment",
                                          client: kiosk, headers: [:])
            let assignment = try JSONValue.parse(assigned.body)
            #expect(assignment["shadow_candidates"]?.arrayValue?.compactMap { $0["version"]?.numberValue } == [1, 2])
            #expect(assignment["decide"]?["version"]?.numberValue == 0)
            let again = try await send("POST", "/v1/policy-searches", "/v1/policy-searches", body: #"{"camera_model":"cam-a","site":"lobby"}"#)
            #expect(again.status == 409, "one search per cohort at a time")
            let early = try await send("POST", "/v1/policy-searches/1/propose", "/v1/policy-searches/{id}/propose", body: #"{"percent":100}"#)
            #expect(early.status == 409 && early.problemSlug == "promotion-refused")

            // The kiosk's attempts with both candidates' scores: the helpful one accepts every
            // genuine attempt, the neutral one scores as the backbone does.
            var outcomes: [MatchOutcome] = []
            for subject in Self.subjects.indices {
                for attempt in 0..<6 {
                    let current = 0.25 + 0.1 * Double(attempt)
                    outcomes.append(Self.outcome(subject: subject, label: .genuine, score: current,
                                                 shadowScores: [.init(modelVersion: helpful, score: min(current + 0.3, 0.95)),
                                                                .init(modelVersion: neutral, score: current)]))
                    let impostor = 0.05 + 0.003 * Double(subject * 6 + attempt)
                    outcomes.append(Self.outcome(subject: subject, label: .impostor, score: impostor,
                                                 shadowScores: [.init(modelVersion: helpful, score: impostor), .init(modelVersion: neutral, score: impostor)]))
                }
            }
            try await upload(outcomes, sequence: 2)

            // Ranked: the helpful candidate first, better than the backbone, the leader.
            let shown = try await send("GET", "/v1/policy-searches/1", "/v1/policy-searches/{id}")
            let ranked = try JSONValue.parse(shown.body)
            let order = (ranked["candidates"]?.arrayValue ?? []).compactMap { $0["model_version"]?.stringValue }
            #expect(order == [helpful, neutral], "\(ranked.serializedString.prefix(2000))")
            #expect(ranked["candidates"]?[0]?["verdict"]?.stringValue == "better")
            #expect(ranked["candidates"]?[0]?["rank"]?.numberValue == 1)
            #expect(ranked["candidates"]?[0]?["figures"]?["candidate_fnmr"]?.numberValue == 0)
            #expect(ranked["leader"]?.numberValue == 1)
            #expect(try cli(server, ["policy-search", "show", "1"], token: erin).stdout.contains("leader: release 1"))
            _ = try await send("GET", "/v1/policy-searches", "/v1/policy-searches")

            // Ranked before any threshold is published: canary kiosks would have none to decide with, so no proposal yet.
            let unpublished = try await send("POST", "/v1/policy-searches/1/propose", "/v1/policy-searches/{id}/propose", body: #"{"percent":100}"#)
            #expect(unpublished.status == 422 && unpublished.problemSlug == "insufficient-data", "\(String(decoding: unpublished.body, as: UTF8.self))")

            // Thresholds for the backbone and both candidates, from those scores.
            let computed = try json(server, ["thresholds", "compute", "--target-fmr", "0.1"], token: erin)
            let version = Int(try #require(computed["version"]?.numberValue))
            let models = Set((computed["release"]?["entries"]?.arrayValue ?? []).compactMap { $0["cohort"]?["modelVersion"]?.stringValue })
            #expect(models == ["dlib_face_recognition_resnet_model_v1", helpful, neutral], "\(computed.serializedString.prefix(1500))")
            #expect(try cli(server, ["thresholds", "approve", "\(version)"]).status == 0)
            #expect(try json(server, ["thresholds", "publish", "\(version)"], token: erin)["state"]?.stringValue == "published")

            // Propose: the leader decides on the cohort's kiosk; the other candidate leaves shadow.
            let proposed = try json(server, ["policy-search", "propose", "1", "--percent", "100"], token: erin)
            #expect(proposed["state"]?.stringValue == "proposed" && proposed["proposed_version"]?.numberValue == 1)
            let rollouts = try json(server, ["models", "rollouts"], token: erin)["rollouts"]?.arrayValue ?? []
            #expect(rollouts.compactMap { $0["stage"]?.stringValue } == ["canary", "rolled_back"])
            let after = try await send("GET", "/v1/kiosk/model-assignment?site=lobby&camera_model=cam-a", "/v1/kiosk/model-assignment",
                                       client: kiosk, headers: [:])
            let changed = try JSONValue.parse(after.body)
            #expect(changed["decide"]?["version"]?.numberValue == 1 && changed["rollout_stage"]?.stringValue == "canary", "\(changed.serializedString)")
            let twice = try await send("POST", "/v1/policy-searches/1/propose", "/v1/policy-searches/{id}/propose", body: #"{"percent":100}"#)
            #expect(twice.status == 409)
            let refine = try await send("POST", "/v1/policy-searches/1/refine", "/v1/policy-searches/{id}/refine")
            #expect(refine.status == 409)
            #expect(try await send("GET", "/v1/policy-searches/9", "/v1/policy-searches/{id}").status == 404)
            #expect(try cli(server, ["policy-search", "list"], token: erin).stdout.contains("proposed release 1"))
        }
    }
}

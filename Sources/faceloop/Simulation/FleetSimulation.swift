import Agent
import Calibration
import Crypto
import FederationAPI
import FeedbackWire
import Foundation
import OperatorClient
import StrictJSON
import ThresholdAPI

/// Drives the simulated kiosks: enroll each (or reuse its enrollment), ask the server which
/// model decides and which is scored in shadow, record consent and outcomes in its own queue,
/// upload batch by batch through the agent's uploader, and time every batch.
struct FleetSimulation: Sendable {
    let client: OperatorClient
    let serverURL: String
    let caFile: String
    let root: String
    let kiosks: Int
    let outcomesPerKiosk: Int
    let batchSize: Int
    let concurrency: Int
    let subjectsPerKiosk: Int
    let model: FleetScoreModel
    let idPrefix: String
    /// Reuse the kiosks enrolled under `root` by an earlier run: no enrollment, no consent.
    let resume: Bool
    let progress: Bool
    let end = Date()

    static let consentWording = "I agree that the outcome of my face verification is used to calibrate this service (fleet simulation)."
    static let consentVersion = "fleet-sim-1"
    static let backbone = FleetScoreModel.Model.backboneVersion
    /// The threshold a kiosk decides with before any threshold release applies to it.
    static let initialThreshold = 0.5
    /// Before every generated attempt, so each outcome is covered by its subject's grant.
    static let consentGranted = Date(timeIntervalSince1970: 1_577_923_200)  // 2020-01-02T00:00:00Z
    /// Every score the fleet under `root` has sent, across resumed runs, with the part of the
    /// score model it came from, and the time the last run's attempts were dated before.
    static let groundTruthFile = "fleet-ground-truth.json"
    /// A fresh fleet's attempts are dated over the last hour of the previous UTC day; a resumed
    /// run's over the time since the previous run started (at most an hour), so that each run's
    /// attempts come after everything earlier runs sent, and a resumed run's fall on a later UTC
    /// day than a fresh fleet's — the server keeps statistics per UTC day, so a release computed
    /// from the fresh fleet has a window of whole days that ends before the next run's attempts.
    static let attemptSpan: TimeInterval = 3600

    /// Where a fresh fleet's attempts end: midnight UTC before `now`.
    static func freshAttemptsEnd(now: Date) -> Date {
        Date(timeIntervalSince1970: (now.timeIntervalSince1970 / 86_400).rounded(.down) * 86_400)
    }

    struct Report: Codable, Sendable {
        var kiosks = 0
        var events = 0
        var batches = 0
        var refusedEvents = 0
        var errors = 0
        var errorSamples: [String] = []
        var seconds = 0.0
        var eventsPerSecond = 0.0
        var latencyP50Milliseconds = 0.0
        var latencyP99Milliseconds = 0.0
        /// What each kiosk applied from the server's assignment, by device id.
        var devices: [KioskState] = []
        var cohorts: [CohortCounts] = []
        var thresholds: ThresholdCheck?

        enum CodingKeys: String, CodingKey {
            case kiosks, events, batches, refusedEvents = "refused_events", errors, errorSamples = "error_samples", seconds
            case eventsPerSecond = "events_per_second", latencyP50Milliseconds = "latency_p50_ms"
            case latencyP99Milliseconds = "latency_p99_ms", devices, cohorts, thresholds
        }

        /// Kiosks listed one by one in the text report; the JSON report lists all.
        static let kiosksListed = 24

        var text: String {
            var lines = [
                "\(kiosks) kiosks, \(events) outcomes in \(batches) batches in \(String(format: "%.1f", seconds)) s: "
                    + "\(String(format: "%.0f", eventsPerSecond)) events/s",
                "batch latency p50 \(String(format: "%.1f", latencyP50Milliseconds)) ms, p99 \(String(format: "%.1f", latencyP99Milliseconds)) ms; "
                    + "\(errors) errors, \(refusedEvents) refused events",
            ]
            lines += errorSamples.map { "  error: \($0)" }
            for cohort in cohorts {
                let decided = cohort.decidedBy.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                lines.append("\(cohort.cohort): \(cohort.kiosks) kiosks, \(cohort.outcomes) outcomes (\(cohort.genuine) genuine, "
                             + "\(cohort.impostors) impostor), \(cohort.shadowScored) with a shadow score; decided by \(decided); "
                             + "\(cohort.falseNonMatches) false non-matches, \(cohort.falseMatches) false matches")
            }
            for device in devices.prefix(Self.kiosksListed) {
                let threshold = device.threshold.map { "threshold \($0) of release \(device.thresholdRelease ?? 0)" }
                    ?? "the initial threshold \(FleetSimulation.initialThreshold)"
                lines.append("  \(device.deviceID) (\(device.cohort)): \(device.activeModelVersion) at \(threshold)"
                             + (device.shadowModelVersion.map { ", shadow \($0)" } ?? "") + " — \(device.reason)")
            }
            if devices.count > Self.kiosksListed { lines.append("  … \(devices.count - Self.kiosksListed) more kiosks in --json") }
            if let thresholds {
                lines.append("thresholds of release \(thresholds.releaseVersion) at FMR \(thresholds.targetFMR) (\(thresholds.rule)): "
                             + "\(thresholds.matching) of \(thresholds.compared) cohorts equal the rule recomputed on the scores sent")
                lines += thresholds.mismatches.map { "  mismatch: \($0)" }
                lines.append("released thresholds against the true ones of the known impostor distributions:")
                for truth in thresholds.cohorts {
                    lines.append("  \(truth.cohort) \(truth.modelVersion): released \(truth.releasedThreshold), true \(truth.trueThreshold) "
                                 + "(\(String(format: "%+.4f", truth.thresholdDifference))); true FMR of the released threshold "
                                 + "\(String(format: "%.3g", truth.releasedTrueFMR)) from \(truth.impostors) impostors"
                                 + (truth.impostorsAfterDrift > 0 && truth.impostorsAfterDrift < truth.impostors
                                    ? " (\(truth.impostorsAfterDrift) after the drift onset)" : ""))
                }
            }
            return lines.joined(separator: "\n")
        }
    }

    /// One kiosk after its `models sync`: the model that decides and its threshold, the model
    /// scored in shadow, and the agent's reason.
    struct KioskState: Codable, Sendable {
        var deviceID: String
        var cohort: String
        var activeModelVersion: String
        var shadowModelVersion: String?
        /// The applied threshold; nil while the initial threshold applies.
        var threshold: Double?
        var thresholdRelease: Int?
        var followsAssignment: Bool
        var reason: String

        enum CodingKeys: String, CodingKey {
            case deviceID = "device_id", cohort, activeModelVersion = "active_model_version"
            case shadowModelVersion = "shadow_model_version", threshold, thresholdRelease = "threshold_release"
            case followsAssignment = "follows_assignment", reason
        }
    }

    /// What one cohort's kiosks uploaded, decided and got wrong (by the generated labels).
    struct CohortCounts: Codable, Sendable {
        var cohort: String
        var kiosks = 0
        var outcomes = 0
        var genuine = 0
        var impostors = 0
        var shadowScored = 0
        /// Outcomes by the model version that decided them.
        var decidedBy: [String: Int] = [:]
        var falseNonMatches = 0
        var falseMatches = 0

        enum CodingKeys: String, CodingKey {
            case cohort, kiosks, outcomes, genuine, impostors, shadowScored = "shadow_scored", decidedBy = "decided_by"
            case falseNonMatches = "false_non_matches", falseMatches = "false_matches"
        }
    }

    /// The release the server computed, checked two ways per cohort that got its own threshold:
    /// against the server's rule recomputed on exactly the scores the fleet sent (`compared`,
    /// `matching`, `mismatches`: this checks what reached the store and how it was grouped, not
    /// the rule), and against the true threshold of the score model's known impostor
    /// distribution (`cohorts`: how conservative the released threshold really is).
    struct ThresholdCheck: Codable, Sendable {
        var releaseVersion: Int
        var targetFMR: Double
        /// The server's rule, as recomputed here with Calibration.
        var rule: String
        var compared: Int
        var matching: Int
        var mismatches: [String]
        /// The model versions whose cohorts were compared.
        var models: [String]
        var cohorts: [CohortTruth]

        enum CodingKeys: String, CodingKey {
            case releaseVersion = "release_version", targetFMR = "target_fmr", rule, compared, matching, mismatches, models, cohorts
        }
    }

    /// One cohort's released threshold against the true threshold at the target: where the
    /// impostor distribution the fleet's scores were drawn from (a mixture when some came after
    /// the drift onset; ``ImpostorMixture``) has exactly the target FMR.
    struct CohortTruth: Codable, Sendable {
        var cohort: String
        var modelVersion: String
        var impostors: Int
        var impostorsAfterDrift: Int
        var releasedThreshold: Double
        var trueThreshold: Double
        /// Released minus true: positive when the release is stricter than the target needs.
        var thresholdDifference: Double
        /// The true FMR of the released threshold under the known distribution.
        var releasedTrueFMR: Double

        enum CodingKeys: String, CodingKey {
            case cohort, modelVersion = "model_version", impostors, impostorsAfterDrift = "impostors_after_drift"
            case releasedThreshold = "released_threshold", trueThreshold = "true_threshold"
            case thresholdDifference = "threshold_difference", releasedTrueFMR = "released_true_fmr"
        }
    }

    /// One score as the server stored it: under the model that scored it (the deciding one or
    /// the shadow one), for a cohort and the pseudonym of the subject the attempt claimed (a
    /// subjects bootstrap orders subjects by it), with the attempt's label and whether it came
    /// after the drift onset (which part of the score model it was drawn from).
    struct SentScore: Codable, Sendable {
        var modelVersion: String
        var site: String
        var cameraModel: String
        var subject: String
        var genuine: Bool
        var score: Double
        var afterDrift: Bool

        var cohort: FleetScoreModel.Cohort { .init(site: site, cameraModel: cameraModel) }

        enum CodingKeys: String, CodingKey {
            case modelVersion = "model_version", site, cameraModel = "camera_model", subject, genuine, score, afterDrift = "after_drift"
        }
    }

    /// What `groundTruthFile` holds.
    struct GroundTruth: Codable, Sendable {
        /// The latest run's attempts were dated before this time.
        var datedUntil: Date?
        var scores: [SentScore]

        enum CodingKeys: String, CodingKey { case datedUntil = "dated_until", scores }
    }

    actor Tally {
        var latencies: [Double] = []
        var events = 0, batches = 0, refused = 0, errors = 0, kiosksDone = 0
        var samples: [String] = []
        var devices: [KioskState] = []
        var cohorts: [String: CohortCounts] = [:]
        var sent: [SentScore] = []

        func batch(seconds: Double, events: Int, refused: Int) {
            latencies.append(seconds)
            self.events += events
            batches += 1
            self.refused += refused
        }
        func error(_ message: String) {
            errors += 1
            if samples.count < 5 { samples.append(message) }
        }
        func kioskDone() { kiosksDone += 1 }
        func kiosk(_ state: KioskState) {
            devices.append(state)
            cohorts[state.cohort, default: CohortCounts(cohort: state.cohort)].kiosks += 1
        }
        func recorded(_ outcomes: [MatchOutcome], truth: [Bool], sent scores: [SentScore]) {
            for (outcome, genuine) in zip(outcomes, truth) {
                let name = "\(outcome.cohort.site)/\(outcome.cohort.cameraModel)"
                var counts = cohorts[name, default: CohortCounts(cohort: name)]
                counts.outcomes += 1
                if genuine { counts.genuine += 1 } else { counts.impostors += 1 }
                if outcome.shadow != nil { counts.shadowScored += 1 }
                counts.decidedBy[outcome.modelVersion, default: 0] += 1
                if genuine && outcome.decision == .reject { counts.falseNonMatches += 1 }
                if !genuine && outcome.decision == .accept { counts.falseMatches += 1 }
                cohorts[name] = counts
            }
            sent += scores
        }
    }

    func deviceID(_ kiosk: Int) -> String { String(format: "%@-%04d", idPrefix, kiosk + 1) }

    static func pseudonym(idPrefix: String, kiosk: Int, subject: Int) -> String {
        SHA256.hash(data: Data("\(idPrefix)/\(kiosk)/\(subject)".utf8)).lowercaseHex
    }

    func run() async throws -> Report {
        if !resume {
            try await registerConsentText()
            try await registerSites()
        }
        let earlier = resume ? try loadGroundTruth() : GroundTruth(datedUntil: nil, scores: [])
        let attemptsUntil = resume ? end : Self.freshAttemptsEnd(now: end)
        let attemptsFrom = min(attemptsUntil, max(attemptsUntil.addingTimeInterval(-Self.attemptSpan), earlier.datedUntil ?? .distantPast))
        let tally = Tally()
        let started = ContinuousClock.now
        let reporter = progress ? Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(500))
                let (done, events) = (await tally.kiosksDone, await tally.events)
                let rate = Double(events) / max(0.001, Self.seconds(ContinuousClock.now - started))
                FileHandle.standardError.write(Data("\r\(done)/\(kiosks) kiosks, \(events) outcomes, \(Int(rate)) events/s   ".utf8))
            }
        } : nil
        await withTaskGroup(of: Void.self) { group in
            var next = 0
            func launch() {
                let kiosk = next
                next += 1
                group.addTask {
                    do {
                        try await self.simulate(kiosk: kiosk, attemptsFrom: attemptsFrom, attemptsUntil: attemptsUntil, tally: tally)
                    } catch {
                        await tally.error("\(self.deviceID(kiosk)): \(error)")
                    }
                    await tally.kioskDone()
                }
            }
            while next < min(concurrency, kiosks) { launch() }
            while await group.next() != nil {
                if next < kiosks { launch() }
            }
        }
        reporter?.cancel()
        if progress { FileHandle.standardError.write(Data("\n".utf8)) }
        let seconds = Self.seconds(ContinuousClock.now - started)
        let latencies = await tally.latencies.sorted()
        func percentile(_ p: Double) -> Double {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int((p * Double(latencies.count)).rounded(.up)) - 1)] * 1000
        }
        try saveGroundTruth(GroundTruth(datedUntil: end, scores: earlier.scores + (await tally.sent)))
        return Report(kiosks: kiosks, events: await tally.events, batches: await tally.batches, refusedEvents: await tally.refused,
                      errors: await tally.errors, errorSamples: await tally.samples, seconds: seconds,
                      eventsPerSecond: Double(await tally.events) / max(seconds, 0.001),
                      latencyP50Milliseconds: percentile(0.5), latencyP99Milliseconds: percentile(0.99),
                      devices: await tally.devices.sorted { $0.deviceID < $1.deviceID },
                      cohorts: await tally.cohorts.values.sorted { $0.cohort < $1.cohort })
    }

    /// Registers the simulation's consent text; a second run finds it there.
    func registerConsentText() async throws {
        do {
            _ = try await client.json("POST", "/v1/compliance/consent-texts", body: .object([
                ("purpose", .string("threshold-calibration")), ("version", .string(Self.consentVersion)), ("language", .string("en")),
                ("text", .string(Self.consentWording)), ("effective_at", .string("2020-01-01T00:00:00Z")), ("material", .bool(false)),
            ]))
        } catch let OperatorClient.Failure.problem(problem) where problem.status == 409 {
            return
        }
    }

    /// Registers the fleet's sites that nobody registered, under the `default` jurisdiction
    /// (where an unregistered site's subjects are pseudonymised anyway), so that each kiosk can
    /// be enrolled for its site. Sites registered before keep their jurisdiction.
    func registerSites() async throws {
        let registered = Set(try JSONValue.parse(try await client.json("GET", "/v1/compliance/sites")).arrayValue?
            .compactMap { $0["site"]?.stringValue } ?? [])
        for site in Set((0..<kiosks).map { model.cohort(ofKiosk: $0).site }).subtracting(registered).sorted() {
            _ = try await client.json("POST", "/v1/compliance/sites", body: .object([
                ("site", .string(site)), ("jurisdiction", .string("default")), ("public_place", .bool(false)),
            ]))
        }
    }

    /// The kiosk's agent, enrolled now (for its cohort's site), or as an earlier run left it when resuming.
    func agent(kiosk: Int) async throws -> KioskAgent {
        let id = deviceID(kiosk)
        let agent = KioskAgent(files: AgentFiles(directory: (root as NSString).appendingPathComponent(id)))
        if resume {
            let settings: AgentSettings
            do {
                settings = try agent.loadSettings()
            } catch {
                throw FleetSimulationError.notEnrolled(id, root)
            }
            guard settings.deviceID == id, settings.serverURL == serverURL else {
                throw FleetSimulationError.enrolledElsewhere(id, settings.deviceID, settings.serverURL)
            }
            return agent
        }
        let token = try await client.createEnrollmentToken(deviceID: id, sites: [model.cohort(ofKiosk: kiosk).site], ttlSeconds: nil)
        _ = try await agent.enroll(serverURL: serverURL, deviceID: id, token: token.token, caFile: caFile)
        let digest = SHA256.hash(data: Data(Self.consentWording.utf8)).lowercaseHex
        _ = try agent.recordConsent((0..<subjectsPerKiosk).map { subject in
            ConsentEvent(eventID: TimeOrderedUUID.make(at: Self.consentGranted), occurredAt: Self.consentGranted,
                         pseudonym: Self.pseudonym(idPrefix: idPrefix, kiosk: kiosk, subject: subject),
                         purpose: "threshold-calibration", kind: .grant, method: .touch, site: model.cohort(ofKiosk: kiosk).site,
                         textVersion: Self.consentVersion, textSHA256: digest)
        })
        return agent
    }

    func simulate(kiosk: Int, attemptsFrom: Date, attemptsUntil: Date, tally: Tally) async throws {
        let id = deviceID(kiosk)
        let agent = try await agent(kiosk: kiosk)
        let cohort = model.cohort(ofKiosk: kiosk)
        // The kiosk decides with what the sync applied: a model together with its threshold.
        let applied = try await agent.syncModels(site: cohort.site, cameraModel: cohort.cameraModel, backbone: Self.backbone)
        let scoring = try Scoring(applied)
        await tally.kiosk(KioskState(
            deviceID: id, cohort: cohort.name, activeModelVersion: applied.active.model.modelVersion,
            shadowModelVersion: applied.shadow?.modelVersion, threshold: applied.active.threshold?.threshold,
            thresholdRelease: applied.active.threshold?.releaseVersion, followsAssignment: applied.followsAssignment,
            reason: applied.reason))
        let attempts = model.attempts(kiosk: kiosk, count: outcomesPerKiosk, subjects: subjectsPerKiosk, start: attemptsFrom, end: attemptsUntil)
        var start = 0
        while start < attempts.count {
            let slice = attempts[start..<min(start + batchSize, attempts.count)]
            let outcomes = slice.map { Self.outcome(kiosk: kiosk, $0, scoring: scoring, model: model, idPrefix: idPrefix) }
            _ = try agent.record(outcomes)
            let began = ContinuousClock.now
            let report = try await agent.upload(batchSize: batchSize)
            let elapsed = Self.seconds(ContinuousClock.now - began)
            if let error = report.error { await tally.error("\(id): \(error)") }
            await tally.batch(seconds: elapsed, events: report.outcomesAcknowledged, refused: report.eventsRefused)
            await tally.recorded(outcomes, truth: slice.map(\.genuine), sent: Self.sentScores(outcomes, attempts: slice))
            start += batchSize
        }
    }

    /// The models and the threshold one kiosk scores and decides with.
    struct Scoring: Sendable {
        var active: (version: String, model: FleetScoreModel.Model)
        var shadow: (version: String, model: FleetScoreModel.Model)?
        var threshold: Double
        var thresholdVersion: String

        /// What every kiosk of a fresh fleet applies on a server without a threshold release or
        /// a model in shadow: the backbone at the initial threshold.
        static let backboneOnly = Scoring(active: (FleetSimulation.backbone, .backbone), shadow: nil,
                                          threshold: FleetSimulation.initialThreshold, thresholdVersion: "initial")

        init(active: (version: String, model: FleetScoreModel.Model), shadow: (version: String, model: FleetScoreModel.Model)?,
             threshold: Double, thresholdVersion: String) {
            self.active = active
            self.shadow = shadow
            self.threshold = threshold
            self.thresholdVersion = thresholdVersion
        }

        init(_ applied: AppliedModels) throws {
            let active = applied.active.model.modelVersion
            self.active = (active, try FleetScoreModel.Model(modelVersion: active))
            shadow = try applied.shadow.map { ($0.modelVersion, try FleetScoreModel.Model(modelVersion: $0.modelVersion)) }
            threshold = applied.active.threshold?.threshold ?? FleetSimulation.initialThreshold
            // As `faceloop-agent verify` names the threshold it decided with.
            thresholdVersion = applied.active.threshold.map { "t-\($0.releaseVersion)" } ?? "initial"
        }
    }

    static func outcome(kiosk: Int, _ attempt: FleetScoreModel.Attempt, scoring: Scoring, model: FleetScoreModel,
                        idPrefix: String) -> MatchOutcome {
        let score = model.score(attempt, model: scoring.active.model)
        return MatchOutcome(
            eventID: TimeOrderedUUID.make(at: attempt.attemptedAt), attemptedAt: attempt.attemptedAt, modelVersion: scoring.active.version,
            thresholdVersion: scoring.thresholdVersion,
            cohort: .init(site: attempt.cohort.site, cameraModel: attempt.cohort.cameraModel), score: score,
            decision: score >= scoring.threshold ? .accept : .reject, label: attempt.genuine ? .genuine : .impostor,
            labelSource: .fallbackIDCheck, quality: .init(faceSizePx: 140, sharpness: 100, brightness: 0.5),
            subject: .init(pseudonym: pseudonym(idPrefix: idPrefix, kiosk: kiosk, subject: attempt.subject), consentRef: "fleet"),
            shadow: scoring.shadow.map { .init(modelVersion: $0.version, score: model.score(attempt, model: $0.model)) })
    }

    /// The scores of `outcomes` (made from `attempts`, in order), each under the model that
    /// produced it, as the server's threshold computation groups them.
    static func sentScores(_ outcomes: [MatchOutcome], attempts: some Collection<FleetScoreModel.Attempt>) -> [SentScore] {
        zip(outcomes, attempts).flatMap { outcome, attempt in
            let (site, camera, subject) = (outcome.cohort.site, outcome.cohort.cameraModel, outcome.subject.pseudonym)
            let genuine = outcome.label == .genuine
            return [SentScore(modelVersion: outcome.modelVersion, site: site, cameraModel: camera, subject: subject, genuine: genuine,
                              score: outcome.score, afterDrift: attempt.afterDrift)]
                + (outcome.shadow.map { [SentScore(modelVersion: $0.modelVersion, site: site, cameraModel: camera, subject: subject,
                                                   genuine: genuine, score: $0.score, afterDrift: attempt.afterDrift)] } ?? [])
        }
    }

    /// What a fresh fleet sends to a server without a threshold release or a model in shadow
    /// (every kiosk decides with the backbone), generated here without a server: the same
    /// attempts, scores and pseudonyms as `run()` for the same options.
    static func freshFleetScores(model: FleetScoreModel, kiosks: Int, outcomesPerKiosk: Int, subjectsPerKiosk: Int,
                                 idPrefix: String) -> [SentScore] {
        let end = freshAttemptsEnd(now: Date())
        return (0..<kiosks).flatMap { kiosk in
            let attempts = model.attempts(kiosk: kiosk, count: outcomesPerKiosk, subjects: subjectsPerKiosk,
                                          start: end.addingTimeInterval(-attemptSpan), end: end)
            let outcomes = attempts.map { outcome(kiosk: kiosk, $0, scoring: .backboneOnly, model: model, idPrefix: idPrefix) }
            return sentScores(outcomes, attempts: attempts)
        }
    }

    var groundTruthPath: String { (root as NSString).appendingPathComponent(Self.groundTruthFile) }

    func loadGroundTruth() throws -> GroundTruth {
        guard let data = FileManager.default.contents(atPath: groundTruthPath) else { return GroundTruth(datedUntil: nil, scores: []) }
        do {
            return try WireJSON.decoder().decode(GroundTruth.self, from: data)
        } catch {
            throw FleetSimulationError.unreadableGroundTruth(groundTruthPath, "\(error)")
        }
    }

    func saveGroundTruth(_ truth: GroundTruth) throws {
        try WireJSON.encoder().encode(truth).write(to: URL(fileURLWithPath: groundTruthPath), options: .atomic)
    }

    /// The server's subjects bootstrap (`ThresholdService.subjectBootstrap`): fixed, so every
    /// node computes the same release, and so the data-path check can recompute it here.
    static let serverSubjectBootstrap = (resamples: 1_000, confidence: 0.95, seed: UInt64(0x5EED_F00D))

    /// Has the server compute thresholds from what arrived, and checks each cohort that got
    /// its own threshold, for every model that scored there (deciding or in shadow), twice:
    /// - with the threshold the server's rule gives on every score this fleet sent (over
    ///   resumed runs too): Calibration again — the live statistics of the sent scores
    ///   (`CohortStatistics.liveLayout`), the default policy, and the subjects bootstrap over
    ///   subject groups when the release holds subject-level bounds — so this shows the server
    ///   computed from exactly what was sent;
    /// - with the truth: the threshold where the impostor distribution the scores were drawn
    ///   from has the target FMR, and the true FMR of the released threshold (``CohortTruth``).
    func checkThresholds(targetFMR: Double) async throws -> ThresholdCheck {
        let view = try await client.computeThresholds(ComputeThresholdsRequest(targetFMR: targetFMR))
        var sentByCohort: [CohortKey: [SentScore]] = [:]
        var live: [CohortKey: CohortStatistics] = [:]
        for sent in try loadGroundTruth().scores {
            let key = CohortKey(modelVersion: sent.modelVersion, cameraModel: sent.cameraModel, cohort: sent.site)
            sentByCohort[key, default: []].append(sent)
            try live[key, default: CohortStatistics(layout: CohortStatistics.liveLayout)]
                .add(score: sent.score, label: sent.genuine ? .genuine : .impostor, subject: sent.subject)
        }
        let parameters = Self.serverSubjectBootstrap
        let bootstrap = try SubjectBootstrap(resamples: parameters.resamples, confidence: parameters.confidence, seed: parameters.seed)
        let subjectLevel = view.release.entries.contains { $0.subjectCount != nil }
        let recomputed = try ThresholdRelease.compute(
            version: 1, previousVersion: nil, cohorts: Array(live.keys), statistics: live, targetFMR: targetFMR,
            policy: ThresholdPolicies.default, layout: CohortStatistics.liveLayout,
            window: try DataWindow(startUnixSeconds: 0, endUnixSeconds: 0), subjectBootstrap: subjectLevel ? bootstrap : nil)
        var compared = 0, matching = 0
        var mismatches: [String] = []
        var truths: [CohortTruth] = []
        var models = Set<String>()
        for (key, sent) in sentByCohort.sorted(by: { $0.key < $1.key }) {
            let impostors = sent.filter { !$0.genuine }
            guard let entry = view.release.entry(for: key), entry.fallbackLevel == .cohort else { continue }
            compared += 1
            models.insert(key.modelVersion)
            truths.append(try Self.truth(of: entry.threshold, for: key, impostors: impostors, model: model, targetFMR: targetFMR))
            guard let expected = recomputed.release.entry(for: key) else {
                mismatches.append("\(key): the server has a threshold of its own, the sent scores give none: "
                                  + (recomputed.refused.first { $0.cohort == key }.map { "\($0.reason)" } ?? "not computed"))
                continue
            }
            if entry.threshold == expected.threshold && entry.impostorCount == impostors.count && entry.subjectCount == expected.subjectCount
                && entry.fallbackLevel == expected.fallbackLevel {
                matching += 1
            } else {
                mismatches.append("\(key): server \(entry.threshold) from \(entry.impostorCount) impostors"
                                  + (entry.subjectCount.map { " of \($0) subject groups" } ?? "")
                                  + ", sent scores \(expected.threshold) from \(impostors.count)"
                                  + (expected.subjectCount.map { " of \($0) subject groups" } ?? ""))
            }
        }
        let rule = subjectLevel
            ? "the larger of Clopper–Pearson 95 % and the subjects bootstrap over subject groups (\(parameters.resamples) resamples, \(parameters.confidence))"
            : "Clopper–Pearson 95 %"
        return ThresholdCheck(releaseVersion: view.version, targetFMR: targetFMR, rule: rule, compared: compared,
                              matching: matching, mismatches: mismatches, models: models.sorted(), cohorts: truths)
    }

    /// `released` against the true threshold of the distribution `impostors` were drawn from.
    static func truth(of released: Double, for key: CohortKey, impostors: [SentScore], model: FleetScoreModel,
                      targetFMR: Double) throws -> CohortTruth {
        let cohort = FleetScoreModel.Cohort(site: key.cohort, cameraModel: key.cameraModel)
        let afterDrift = impostors.count { $0.afterDrift }
        let mixture = try model.impostorMixture(cohort, model: try FleetScoreModel.Model(modelVersion: key.modelVersion),
                                                beforeDrift: impostors.count - afterDrift, afterDrift: afterDrift)
        let trueThreshold = try mixture.threshold(atFalseMatchRate: targetFMR)
        return CohortTruth(cohort: cohort.name, modelVersion: key.modelVersion, impostors: impostors.count, impostorsAfterDrift: afterDrift,
                           releasedThreshold: released, trueThreshold: trueThreshold, thresholdDifference: released - trueThreshold,
                           releasedTrueFMR: mixture.falseMatchRate(atThreshold: released))
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

enum FleetSimulationError: Error, CustomStringConvertible {
    case notEnrolled(String, String)
    case enrolledElsewhere(String, String, String)
    case unreadableGroundTruth(String, String)

    var description: String {
        switch self {
        case let .notEnrolled(device, root):
            "\(device) is not enrolled under \(root); run once without --resume to enroll the fleet"
        case let .enrolledElsewhere(device, enrolledAs, server):
            "the kiosk directory of \(device) is enrolled as \(enrolledAs) with \(server); resume against the server it was enrolled with"
        case let .unreadableGroundTruth(path, reason):
            "\(path) (the scores of earlier runs) is unreadable: \(reason)"
        }
    }
}

import Agent
import Calibration
import Crypto
import FeedbackWire
import Foundation
import OperatorClient
import StrictJSON
import ThresholdAPI

/// Drives the simulated kiosks: enroll each, record consent and outcomes in its own queue,
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
    let progress: Bool
    let end = Date()

    static let consentWording = "I agree that the outcome of my face verification is used to calibrate this service (fleet simulation)."
    static let consentVersion = "fleet-sim-1"
    static let modelVersion = "dlib_face_recognition_resnet_model_v1"
    /// Before every generated attempt, so each outcome is covered by its subject's grant.
    static let consentGranted = Date(timeIntervalSince1970: 1_577_923_200)  // 2020-01-02T00:00:00Z

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
        var thresholds: ThresholdCheck?

        enum CodingKeys: String, CodingKey {
            case kiosks, events, batches, refusedEvents = "refused_events", errors, errorSamples = "error_samples", seconds
            case eventsPerSecond = "events_per_second", latencyP50Milliseconds = "latency_p50_ms"
            case latencyP99Milliseconds = "latency_p99_ms", thresholds
        }

        var text: String {
            var lines = [
                "\(kiosks) kiosks, \(events) outcomes in \(batches) batches in \(String(format: "%.1f", seconds)) s: "
                    + "\(String(format: "%.0f", eventsPerSecond)) events/s",
                "batch latency p50 \(String(format: "%.1f", latencyP50Milliseconds)) ms, p99 \(String(format: "%.1f", latencyP99Milliseconds)) ms; "
                    + "\(errors) errors, \(refusedEvents) refused events",
            ]
            lines += errorSamples.map { "  error: \($0)" }
            if let thresholds {
                lines.append("thresholds at FMR \(thresholds.targetFMR): \(thresholds.matching) of \(thresholds.compared) cohorts equal the ground truth"
                             + (thresholds.drifting.map { "; drifting cohort \($0)" } ?? ""))
                lines += thresholds.mismatches.map { "  mismatch: \($0)" }
            }
            return lines.joined(separator: "\n")
        }
    }

    struct ThresholdCheck: Codable, Sendable {
        var targetFMR: Double
        var compared: Int
        var matching: Int
        var mismatches: [String]
        var drifting: String?

        enum CodingKeys: String, CodingKey { case targetFMR = "target_fmr", compared, matching, mismatches, drifting }
    }

    actor Tally {
        var latencies: [Double] = []
        var events = 0, batches = 0, refused = 0, errors = 0, kiosksDone = 0
        var samples: [String] = []
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
    }

    func deviceID(_ kiosk: Int) -> String { String(format: "%@-%04d", idPrefix, kiosk + 1) }

    func pseudonym(kiosk: Int, subject: Int) -> String {
        SHA256.hash(data: Data("\(idPrefix)/\(kiosk)/\(subject)".utf8)).lowercaseHex
    }

    func run() async throws -> Report {
        try await registerConsentText()
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
                        try await self.simulate(kiosk: kiosk, tally: tally)
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
        return Report(kiosks: kiosks, events: await tally.events, batches: await tally.batches, refusedEvents: await tally.refused,
                      errors: await tally.errors, errorSamples: await tally.samples, seconds: seconds,
                      eventsPerSecond: Double(await tally.events) / max(seconds, 0.001),
                      latencyP50Milliseconds: percentile(0.5), latencyP99Milliseconds: percentile(0.99))
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

    func simulate(kiosk: Int, tally: Tally) async throws {
        let id = deviceID(kiosk)
        let agent = KioskAgent(files: AgentFiles(directory: (root as NSString).appendingPathComponent(id)))
        let token = try await client.createEnrollmentToken(deviceID: id, ttlSeconds: nil)
        _ = try await agent.enroll(serverURL: serverURL, deviceID: id, token: token.token, caFile: caFile)
        let digest = SHA256.hash(data: Data(Self.consentWording.utf8)).lowercaseHex
        _ = try agent.recordConsent((0..<subjectsPerKiosk).map { subject in
            ConsentEvent(eventID: UUID(), occurredAt: Self.consentGranted, pseudonym: pseudonym(kiosk: kiosk, subject: subject),
                         purpose: "threshold-calibration", kind: .grant, method: .touch, site: model.cohort(ofKiosk: kiosk).site,
                         textVersion: Self.consentVersion, textSHA256: digest)
        })
        let outcomes = model.outcomes(kiosk: kiosk, count: outcomesPerKiosk, subjects: subjectsPerKiosk, end: end)
        var start = 0
        while start < outcomes.count {
            let slice = outcomes[start..<min(start + batchSize, outcomes.count)]
            _ = try agent.record(slice.map { outcome(kiosk: kiosk, $0) })
            let began = ContinuousClock.now
            let report = try await agent.upload(batchSize: batchSize)
            let elapsed = Self.seconds(ContinuousClock.now - began)
            if let error = report.error { await tally.error("\(id): \(error)") }
            await tally.batch(seconds: elapsed, events: report.outcomesAcknowledged, refused: report.eventsRefused)
            start += batchSize
        }
    }

    func outcome(kiosk: Int, _ outcome: FleetScoreModel.Outcome) -> MatchOutcome {
        MatchOutcome(
            eventID: UUID(), attemptedAt: outcome.attemptedAt, modelVersion: Self.modelVersion, thresholdVersion: "initial",
            cohort: .init(site: outcome.cohort.site, cameraModel: outcome.cohort.cameraModel), score: outcome.score,
            decision: outcome.score >= 0.5 ? .accept : .reject, label: outcome.genuine ? .genuine : .impostor,
            labelSource: .fallbackIDCheck, quality: .init(faceSizePx: 140, sharpness: 100, brightness: 0.5),
            subject: .init(pseudonym: pseudonym(kiosk: kiosk, subject: outcome.subject), consentRef: "fleet"))
    }

    /// Has the server compute thresholds from what arrived, and compares each cohort that got
    /// its own threshold with the conservative threshold of the generated impostor scores.
    func checkThresholds(targetFMR: Double) async throws -> ThresholdCheck {
        let view = try await client.computeThresholds(ComputeThresholdsRequest(targetFMR: targetFMR))
        var impostors: [FleetScoreModel.Cohort: [Double]] = [:]
        for kiosk in 0..<kiosks {
            for outcome in model.outcomes(kiosk: kiosk, count: outcomesPerKiosk, subjects: subjectsPerKiosk, end: end) where !outcome.genuine {
                impostors[outcome.cohort, default: []].append(outcome.score)
            }
        }
        let bound = try ClopperPearson(confidence: 0.95)
        var compared = 0, matching = 0
        var mismatches: [String] = []
        for (cohort, scores) in impostors.sorted(by: { ($0.key.site, $0.key.cameraModel) < ($1.key.site, $1.key.cameraModel) }) {
            let key = CohortKey(modelVersion: Self.modelVersion, cameraModel: cohort.cameraModel, cohort: cohort.site)
            guard let entry = view.release.entry(for: key), entry.fallbackLevel == .cohort,
                  let truth = try? bound.conservativeThreshold(impostors: try SortedScores(scores), targetFMR: targetFMR) else { continue }
            compared += 1
            if entry.threshold == truth.threshold && entry.impostorCount == scores.count {
                matching += 1
            } else {
                mismatches.append("\(cohort.site)/\(cohort.cameraModel): server \(entry.threshold) from \(entry.impostorCount) impostors, "
                                  + "ground truth \(truth.threshold) from \(scores.count)")
            }
        }
        let drifting = FleetScoreModel.drifting
        return ThresholdCheck(targetFMR: targetFMR, compared: compared, matching: matching, mismatches: mismatches,
                              drifting: impostors[drifting] == nil ? nil : "\(drifting.site)/\(drifting.cameraModel)")
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

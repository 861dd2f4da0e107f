import Federation
import FederationCore
import Foundation
import SimulatedCapture

/// Writes one cohort's first search round as a kiosk would upload it, and the ranking the
/// simulation made of it, for `scripts/experiments/policy-search-over-http.py`:
///
/// - `outcomes.jsonl`: one outcome per consented verification and pass, as
///   `faceloop-agent record --stdin` reads them: today's score, the label (the quality figures
///   are fixed: the cache has none and the ranking reads none), and the shadow scores
///   of the candidates the kiosk's rotation scores on that pass (pass p scores attempt j under
///   candidates j + p·k … j + p·k + k − 1, mod the round's count). A shadow score's
///   `model_version` is `policy:ID`, the candidate's `PolicyCandidates.identifier`; the script
///   puts the server's release name for that policy in its place.
/// - `expected.json`: the cohort, the candidates' policies and ids, and the simulation's ranking
///   (order, verdict, both FNMRs and thresholds).
enum RoundOneExport {
    static let backbone = "dlib_face_recognition_resnet_model_v1"
    static let cameraModel = "lfw-sim"

    static func write(_ round: FleetSearch.RoundOne, condition: KioskCondition, to directory: String) throws {
        let folder = (directory as NSString).appendingPathComponent(condition.rawValue)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let site = condition.rawValue
        let ids = round.candidates.map(PolicyCandidates.identifier)
        let outcomesPath = (folder as NSString).appendingPathComponent("outcomes.jsonl")
        guard FileManager.default.createFile(atPath: outcomesPath, contents: nil),
              let handle = FileHandle(forWritingAtPath: outcomesPath) else {
            throw SimulationError("cannot write \(outcomesPath)")
        }
        defer { try? handle.close() }
        // Passes an hour apart, attempts a millisecond apart within one, starting three days ago
        // (on the hour), so that every attempt is recent enough for the server's windows.
        let start = Date(timeIntervalSince1970: ((Date().timeIntervalSince1970 - 3 * 86_400) / 3_600).rounded(.down) * 3_600)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let count = round.candidates.count
        // The descriptor cache keeps no capture-quality figures and the ranking reads none, so
        // every outcome carries the same (the protocol requires them).
        let quality = #"{"face_size_px":100,"sharpness":50,"brightness":0.5}"#
        var buffer = ""
        for pass in 0..<round.passes {
            for (index, attempt) in round.attempts.enumerated() {
                let first = index + pass * round.perVerification
                let scored = (0..<min(round.perVerification, count)).map { (first + $0) % count }
                let shadow = scored.map { #"{"model_version":"policy:\#(ids[$0])","score":\#(round.candidateScores[$0][index])}"# }
                let current = round.currentScores[index]
                let at = formatter.string(from: start.addingTimeInterval(Double(pass) * 3600 + Double(index) / 1000))
                buffer += #"{"attempted_at":"\#(at)","model_version":"\#(backbone)","threshold_version":"t-0","#
                    + #""cohort":{"site":"\#(site)","camera_model":"\#(cameraModel)"},"score":\#(current),"#
                    + #""decision":"\#(current >= round.currentThreshold ? "accept" : "reject")","label":"\#(attempt.label == .genuine ? "genuine" : "impostor")","#
                    + #""label_source":"fallback_id_check","quality":\#(quality),"subject":{"pseudonym":"\#(subjectID(attempt.claimed))","consent_ref":"sim"},"#
                    + #""shadow_scores":[\#(shadow.joined(separator: ","))]}"# + "\n"
                if buffer.utf8.count > 1 << 20 {
                    handle.write(Data(buffer.utf8))
                    buffer = ""
                }
            }
        }
        handle.write(Data(buffer.utf8))

        struct Expected: Encodable {
            struct Candidate: Encodable {
                var policyID: String
                var policy: NormalizationPolicy
            }
            struct Ranked: Encodable {
                var policyID: String
                var verdict: String
                var currentFNMR: Double?
                var candidateFNMR: Double?
                var currentThreshold: Double
                var candidateThreshold: Double
                var genuineAttempts: Int
                var impostorAttempts: Int
            }
            var site: String
            var cameraModel: String
            var subjects: [String]
            var candidates: [Candidate]
            var ranking: [Ranked]
            var leader: String?
        }
        let expected = Expected(
            site: site, cameraModel: cameraModel, subjects: Set(round.attempts.map { subjectID($0.claimed) }).sorted(),
            candidates: zip(ids, round.candidates).map { Expected.Candidate(policyID: $0, policy: $1) },
            ranking: round.ranking.entries.map { entry in
                Expected.Ranked(policyID: entry.candidate, verdict: entry.decision.rawValue, currentFNMR: entry.comparison.currentFNMR,
                                candidateFNMR: entry.comparison.candidateFNMR, currentThreshold: entry.comparison.currentThreshold,
                                candidateThreshold: entry.comparison.candidateThreshold, genuineAttempts: entry.comparison.genuineAttempts,
                                impostorAttempts: entry.comparison.impostorAttempts)
            },
            leader: round.ranking.leader?.candidate)
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(expected).write(to: URL(fileURLWithPath: (folder as NSString).appendingPathComponent("expected.json")))
    }
}

import Foundation
import Testing
@testable import Compliance
import SeededRandom

@Suite("Pseudonyms")
struct PseudonymTests {
    /// Expected values from Python's `hmac.new(bytes(range(32)), unicodedata.normalize("NFKC", s).strip().lower().encode(), sha256)`.
    @Test("HMAC-SHA256 of the NFKC-normalised, trimmed, case-folded id, as Python's hmac computes it",
          arguments: [" Anna.Berg@Example.ORG\n", "ＡＮＮＡ.berg@example.org", "anna.berg@example.org"])
    func knownAnswer(subjectID: String) {
        let pseudonymizer = Pseudonymizer(key: Array(0..<32))
        #expect(pseudonymizer.pseudonym(for: subjectID) == "6ead76743a37c0cd8c9fb3d8fcf95426341f83eb0abda2f750b0615efcce571b")
    }

    @Test("another jurisdiction's key gives an unrelated pseudonym")
    func keysSeparate() {
        let a = Pseudonymizer(key: Array(0..<32)).pseudonym(for: "anna.berg@example.org")
        let b = Pseudonymizer(key: Array(1...32)).pseudonym(for: "anna.berg@example.org")
        #expect(a != b)
        #expect(Pseudonymizer.generateKey() != Pseudonymizer.generateKey())
    }
}

@Suite("Consent ledger")
struct ConsentLedgerTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)
    func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }
    var texts: [ConsentText] {
        [ConsentText(purpose: .thresholdCalibration, version: "v1", language: "en", sha256: String(repeating: "a", count: 64),
                     effectiveAt: at(-1000), material: false)]
    }

    @Test("no event, or only events after the attempt: not covered")
    func none() {
        #expect(ConsentLedger.decision(at: at(0), records: [], texts: texts) == .noConsent)
        let later = ConsentRecord(kind: .grant, occurredAt: at(1), textVersion: "v1", arrival: 1)
        #expect(ConsentLedger.decision(at: at(0), records: [later], texts: texts) == .noConsent)
    }

    @Test("a grant covers the moment of the attempt, including the same instant")
    func grant() {
        let grant = ConsentRecord(kind: .grant, occurredAt: at(0), textVersion: "v1", arrival: 1)
        #expect(ConsentLedger.decision(at: at(0), records: [grant], texts: texts) == nil)
        #expect(ConsentLedger.decision(at: at(500), records: [grant], texts: texts) == nil)
    }

    @Test("withdrawal and limit block what follows them, not what came before")
    func withdrawAndLimit() {
        let records = [ConsentRecord(kind: .grant, occurredAt: at(0), textVersion: "v1", arrival: 1),
                       ConsentRecord(kind: .withdraw, occurredAt: at(100), textVersion: "v1", arrival: 2),
                       ConsentRecord(kind: .grant, occurredAt: at(200), textVersion: "v1", arrival: 3),
                       ConsentRecord(kind: .limit, occurredAt: at(300), textVersion: "v1", arrival: 4)]
        #expect(ConsentLedger.decision(at: at(50), records: Array(records.prefix(1)), texts: texts) == nil)
        // An outcome from before a withdrawal that arrives after it is not stored either.
        #expect(ConsentLedger.decision(at: at(50), records: records, texts: texts) == .withdrawn)
        #expect(ConsentLedger.decision(at: at(150), records: records, texts: texts) == .withdrawn)
        #expect(ConsentLedger.decision(at: at(250), records: records, texts: texts) == nil)
        #expect(ConsentLedger.decision(at: at(350), records: records, texts: texts) == .limited)
    }

    @Test("at the same instant the later arrival decides")
    func ties() {
        let records = [ConsentRecord(kind: .withdraw, occurredAt: at(0), textVersion: "v1", arrival: 7),
                       ConsentRecord(kind: .grant, occurredAt: at(0), textVersion: "v1", arrival: 3)]
        #expect(ConsentLedger.decision(at: at(0), records: records, texts: texts) == .withdrawn)
    }

    @Test("a material text change needs re-consent from its effective date; a minor change does not")
    func materialChange() {
        var all = texts
        all.append(ConsentText(purpose: .thresholdCalibration, version: "v1.1", language: "en", sha256: String(repeating: "b", count: 64),
                               effectiveAt: at(100), material: false))
        all.append(ConsentText(purpose: .thresholdCalibration, version: "v2", language: "en", sha256: String(repeating: "c", count: 64),
                               effectiveAt: at(1000), material: true))
        let old = ConsentRecord(kind: .grant, occurredAt: at(0), textVersion: "v1", arrival: 1)
        #expect(ConsentLedger.decision(at: at(500), records: [old], texts: all) == nil)
        #expect(ConsentLedger.decision(at: at(1000), records: [old], texts: all) == .reconsentRequired)
        let again = ConsentRecord(kind: .reconsent, occurredAt: at(1200), textVersion: "v2", arrival: 2)
        #expect(ConsentLedger.decision(at: at(1100), records: [old, again], texts: all) == .reconsentRequired)
        #expect(ConsentLedger.decision(at: at(1300), records: [old, again], texts: all) == nil)
        let unknownText = ConsentRecord(kind: .grant, occurredAt: at(1200), textVersion: "v9", arrival: 3)
        #expect(ConsentLedger.decision(at: at(1300), records: [unknownText], texts: all) == .reconsentRequired)
    }
}

@Suite("Retention schedule")
struct RetentionScheduleTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("the cutoff is the retention period before now")
    func plain() {
        #expect(RetentionSchedule.deletionCutoff(now: now, retentionDays: 30, biometricLaw: nil) == now.addingTimeInterval(-30 * 86_400))
        #expect(RetentionSchedule.lastInteractionLimit(biometricLaw: nil) == nil)
    }

    @Test("under BIPA no retention exceeds three years")
    func bipa() {
        #expect(RetentionSchedule.deletionCutoff(now: now, retentionDays: 5000, biometricLaw: "bipa")
                == now.addingTimeInterval(-3 * 365 * 86_400))
        #expect(RetentionSchedule.deletionCutoff(now: now, retentionDays: 30, biometricLaw: "bipa") == now.addingTimeInterval(-30 * 86_400))
        #expect(RetentionSchedule.lastInteractionLimit(biometricLaw: "bipa") == TimeInterval(94_608_000))
    }

    @Test("a request is due the configured number of days after it was received")
    func requestDue() {
        #expect(RetentionSchedule.requestDue(receivedAt: now, requestDays: 30) == now.addingTimeInterval(30 * 86_400))
    }
}

/// The store keeps each subject's records as a `ConsentHistory` and decides through it, not
/// through the ledger's pass over every record: the two must always agree.
@Suite("Consent history")
struct ConsentHistoryTests {
    static let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("decides as the ledger does, built at once or record by record in any order", arguments: 0..<20)
    func agreesWithLedger(seed: Int) {
        var generator = SeededGenerator(seed: UInt64(seed))
        let kinds: [ConsentRecord.Kind] = [.grant, .grant, .reconsent, .withdraw, .limit]
        // Few distinct times and arrivals, so that ties in time, and in time and arrival, happen.
        let records = (0..<Int.random(in: 0...40, using: &generator)).map { _ in
            ConsentRecord(kind: kinds.randomElement(using: &generator) ?? .grant,
                          occurredAt: Self.t0.addingTimeInterval(Double(Int.random(in: 0...12, using: &generator)) * 10),
                          textVersion: ["v1", "v2", "v3"].randomElement(using: &generator) ?? "v1",
                          arrival: Bool.random(using: &generator) ? .max : Int64.random(in: 1...6, using: &generator))
        }
        let texts = [ConsentText(purpose: .thresholdCalibration, version: "v1", language: "en", sha256: "", effectiveAt: Self.t0, material: false),
                     ConsentText(purpose: .thresholdCalibration, version: "v2", language: "en", sha256: "",
                                 effectiveAt: Self.t0.addingTimeInterval(45), material: true),
                     ConsentText(purpose: .thresholdCalibration, version: "v3", language: "en", sha256: "",
                                 effectiveAt: Self.t0.addingTimeInterval(95), material: Bool.random(using: &generator))]
        var added = ConsentHistory()
        for record in records { added.add(record) }
        let built = ConsentHistory(records)
        #expect(added.records == built.records)
        for step in -1...14 {
            let moment = Self.t0.addingTimeInterval(Double(step) * 10 + (step % 2 == 0 ? 0 : 5))
            let expected = ConsentLedger.decision(at: moment, records: records, texts: texts)
            #expect(built.decision(at: moment, texts: texts) == expected, "at \(step * 10) s of \(records)")
            #expect(added.decision(at: moment, texts: texts) == expected)
        }
    }
}

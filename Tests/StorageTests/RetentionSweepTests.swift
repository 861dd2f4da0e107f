import Compliance
import FeedbackWire
import Foundation
import Storage
import Testing

/// The retention sweep against a reference computed here from the uploads themselves: an
/// outcome goes when the earlier of its attempt and its batch's arrival is before its
/// jurisdiction's cutoff. Outcomes sit on both sides of each cutoff, dated in the future or
/// not, in two jurisdictions; a sweep that missed any qualifying row, or took one too many,
/// leaves a subject with the wrong number of outcomes.
@Suite("Retention sweep")
struct RetentionSweepTests {
    typealias Fixture = FeedbackStoreTests
    static let now = Fixture.now
    static let day: TimeInterval = 86_400

    struct Upload {
        var receivedDaysAgo: Double
        /// (subject, site, attempted: days from now; positive is in the future)
        var outcomes: [(String, String, Double)]
    }

    static let subjects = "ABCDEFGHIJ".map(subject)
    static func subject(_ letter: Character) -> String { String(format: "%064x", 0xA11CE_00 + Int(letter.asciiValue ?? 0)) }

    static let uploads: [Upload] = [
        Upload(receivedDaysAgo: 1400, outcomes: [(subject("A"), "s1", -1450), (subject("B"), "chicago", -1420),
                                                 (subject("C"), "s1", 100), (subject("D"), "chicago", 100)]),
        Upload(receivedDaysAgo: 35, outcomes: [(subject("A"), "s1", -36), (subject("B"), "chicago", -36),
                                               (subject("E"), "s1", -20), (subject("F"), "s1", 5)]),
        Upload(receivedDaysAgo: 5, outcomes: [(subject("A"), "s1", -5), (subject("C"), "s1", -25), (subject("E"), "s1", -5),
                                              (subject("G"), "chicago", -1000), (subject("H"), "chicago", -1200)]),
        Upload(receivedDaysAgo: 0, outcomes: [(subject("B"), "chicago", -1500), (subject("I"), "s1", -31), (subject("J"), "s1", -29),
                                              (subject("J"), "chicago", -1094)]),
    ]

    /// default: 30 days; us-il (BIPA): ten years, cut to three.
    static func cutoff(site: String) -> Date {
        site == "chicago" ? RetentionSchedule.deletionCutoff(now: now, retentionDays: 3650, biometricLaw: "bipa")
                          : now.addingTimeInterval(-30 * day)
    }

    @Test("a sweep erases exactly the outcomes held since before their jurisdiction's cutoff, by attempt or by arrival",
          arguments: StoreBackEnd.available)
    func exactSweep(backEnd: StoreBackEnd) async throws {
        let (store, reopen, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let compliance = try #require(store as? any ComplianceStore)
        try await Fixture.enrolled(store, "kiosk-1")
        try await compliance.upsertJurisdiction(JurisdictionRecord(name: "us-il", dataRegion: "us-central", biometricLaw: "bipa",
                                                                   requestDays: 45, pseudonymKey: Array(repeating: 7, count: 32)),
                                                actor: "test", at: Self.now)
        #expect(try await compliance.upsertSite(SiteRecord(site: "chicago", jurisdiction: "us-il", publicPlace: true), actor: "test", at: Self.now))
        #expect(try await compliance.setRetention(RetentionRule(jurisdiction: "us-il", purpose: .thresholdCalibration, days: 3650),
                                                  actor: "test", at: Self.now))
        #expect(try await compliance.setRetention(RetentionRule(jurisdiction: JurisdictionRecord.defaultName, purpose: .thresholdCalibration,
                                                                days: 30), actor: "test", at: Self.now))
        let grants = Self.subjects.map { Fixture.consent(.grant, pseudonym: $0, at: Self.now.addingTimeInterval(-1800 * Self.day)) }
        guard case .stored = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: [], consentEvents: grants,
                                                                         receivedAt: Self.now.addingTimeInterval(-1800 * Self.day)))
        else { Issue.record("grants not stored"); return }

        var kept: [String: Int] = [:], erased: [String: Int] = [:]
        for (index, upload) in Self.uploads.enumerated() {
            let received = Self.now.addingTimeInterval(-upload.receivedDaysAgo * Self.day)
            let outcomes = upload.outcomes.map { subject, site, attempted in
                var outcome = Fixture.outcome(site: site)
                outcome.subject = .init(pseudonym: subject, consentRef: "c")
                outcome.attemptedAt = Self.now.addingTimeInterval(attempted * Self.day)
                if min(outcome.attemptedAt, received) < Self.cutoff(site: site) { erased[subject, default: 0] += 1 }
                else { kept[subject, default: 0] += 1 }
                return outcome
            }
            let result = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: Int64(index + 2), outcomes: outcomes,
                                                                     consentEvents: [], receivedAt: received))
            guard case let .stored(bytes) = result else { Issue.record("upload \(index) not stored: \(result)"); return }
            #expect(try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes)).acceptedEvents == outcomes.count)
        }
        // The cases are all there: kept and erased in both jurisdictions, by attempt and by arrival.
        #expect(erased.values.reduce(0, +) == 10 && kept.values.reduce(0, +) == 7, "erased \(erased), kept \(kept)")

        #expect(try await compliance.overdueRetention(now: Self.now).map(\.outcomes).reduce(0, +) == 10)
        let swept = try await compliance.sweepRetention(now: Self.now)
        var sweptBySubject: [String: Int] = [:]
        for record in swept { sweptBySubject[record.pseudonym, default: 0] += record.outcomesErased }
        #expect(sweptBySubject == erased)
        #expect(swept.allSatisfy { $0.outcomesErased > 0 && $0.cause == .retention })
        for subject in Self.subjects {
            #expect(try await compliance.subjectExport(pseudonym: subject).outcomes.count == kept[subject] ?? 0, "\(subject)")
        }
        #expect(try await store.outcomeStats().totalEvents == 7)
        #expect(try await compliance.erasures().count == swept.count, "no erasure recorded for a subject with nothing to erase")
        let reopened = try #require(try await reopen() as? any ComplianceStore)
        #expect(try await reopened.sweepRetention(now: Self.now).isEmpty, "a second sweep finds nothing")
        #expect(try await reopened.overdueRetention(now: Self.now).isEmpty)
    }
}

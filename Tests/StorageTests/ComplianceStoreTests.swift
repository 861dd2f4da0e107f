import AuditLog
import Compliance
import FeedbackWire
import Foundation
import Storage
import Testing

@Suite("ComplianceStore contract")
struct ComplianceStoreTests {
    typealias Fixture = FeedbackStoreTests
    static let now = Fixture.now

    func open(_ backEnd: StoreBackEnd) async throws -> (any FeedbackStore, any ComplianceStore, () -> Void) {
        let (store, cleanup) = try await backEnd.open()
        return (store, try #require(store as? any ComplianceStore), cleanup)
    }

    static func outcome(_ pseudonym: String, at time: Date = now, label: MatchOutcome.Label = .genuine) -> MatchOutcome {
        var outcome = Fixture.outcome(label: label)
        outcome.subject = .init(pseudonym: pseudonym, consentRef: "c")
        outcome.attemptedAt = time
        return outcome
    }

    @Test("an outcome without consent is refused, listed in the receipt and not stored — not even in the batch body",
          arguments: StoreBackEnd.available)
    func unconsented(backEnd: StoreBackEnd) async throws {
        let (store, compliance, cleanup) = try await open(backEnd)
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        let stranger = String(repeating: "5", count: 64)
        let refused = Self.outcome(stranger)
        let batch = Fixture.incoming("kiosk-1", sequence: 1, outcomes: [Self.outcome(Fixture.subject), refused])
        guard case let .stored(bytes) = try await store.storeBatch(batch) else { Issue.record("not stored"); return }
        let receipt = try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes))
        #expect(receipt.acceptedEvents == 1)
        #expect(receipt.consentEvents == 1)
        #expect(receipt.refusedEvents.map(\.eventID) == [refused.eventID])
        #expect(receipt.refusedEvents.first?.reason == "no-consent")
        #expect(try await store.outcomeStats().totalEvents == 1)
        #expect(try await compliance.subjectExport(pseudonym: stranger).outcomes.isEmpty)

        // A consent event citing a text the server does not know is kept for review but never in force.
        var unknownText = Fixture.consent(.grant, pseudonym: stranger)
        unknownText.textVersion = "v9"
        let second = Fixture.incoming("kiosk-1", sequence: 2, outcomes: [Self.outcome(stranger)], consentEvents: [unknownText])
        guard case let .stored(secondBytes) = try await store.storeBatch(second) else { Issue.record("not stored"); return }
        let secondReceipt = try WireJSON.decoder().decode(BatchReceipt.self, from: Data(secondBytes))
        #expect(secondReceipt.refusedEvents.map(\.reason) == ["unknown-consent-text", "no-consent"])
        #expect(try await compliance.consentEvents(ConsentEventFilter(pseudonym: stranger)).first?.refusal == "unknown-consent-text")
    }

    @Test("a withdrawal erases the subject's outcomes in its own commit, and later uploads of earlier attempts are refused; its blocked_at is stamped once, after that commit and before the store returns",
          arguments: StoreBackEnd.available)
    func withdrawal(backEnd: StoreBackEnd) async throws {
        let (store, compliance, cleanup) = try await open(backEnd)
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        let anna = Fixture.subject, ben = String(repeating: "b", count: 64)
        let first = Fixture.incoming("kiosk-1", sequence: 1, outcomes: (0..<5).map { _ in Self.outcome(anna) } + [Self.outcome(ben)],
                                     consentEvents: [Fixture.consent(.grant, pseudonym: anna), Fixture.consent(.grant, pseudonym: ben)])
        _ = try await store.storeBatch(first)
        #expect(try await store.outcomeStats().totalEvents == 6)

        let received = Date()
        let late = Self.outcome(anna, at: Self.now.addingTimeInterval(30))
        let withdrawal = Fixture.incoming("kiosk-1", sequence: 2, outcomes: [late],
                                          consentEvents: [Fixture.consent(.withdraw, pseudonym: anna, at: Self.now.addingTimeInterval(50))],
                                          receivedAt: received)
        guard case let .stored(bytes) = try await store.storeBatch(withdrawal) else { Issue.record("not stored"); return }
        let returned = Date()
        let receipt = try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes))
        #expect(receipt.refusedEvents.map(\.reason) == ["consent-withdrawn"])
        #expect(try await store.outcomeStats().totalEvents == 1, "only Ben's outcome is left")
        #expect(try await compliance.subjectExport(pseudonym: anna).outcomes.isEmpty)
        #expect(try await store.calibrationOutcomes(from: nil, to: nil).count == 1)

        let erasure = try #require(try await compliance.erasures().first)
        #expect(erasure.pseudonym == anna && erasure.cause == .withdrawal && erasure.outcomesErased == 5 && erasure.batchesRedacted == 1)
        let report = try await compliance.withdrawalReport()
        #expect(report.count == 1)
        #expect(report.first?.processedAfterWithdrawal == 0)
        // The erasure's time is read inside the transaction; blocked_at after its commit, and
        // before the store answers (the route sends the receipt only then). How long that
        // takes is asserted end to end (ComplianceEndToEndTests), not here.
        let row = try #require(report.first)
        let erasedAt = try #require(row.erasedAt), blockedAt = try #require(row.blockedAt)
        #expect(erasure.erasedAt == erasedAt)
        #expect(received <= erasedAt && erasedAt <= blockedAt && blockedAt <= returned,
                "received \(received), erased \(erasedAt), blocked \(blockedAt), store returned \(returned)")
        #expect(abs((row.timeToBlockMilliseconds ?? -1) - blockedAt.timeIntervalSince(received) * 1000) < 1e-3)

        // A resend gets the stored receipt and leaves the stamp as it was.
        let resend = Fixture.incoming("kiosk-1", sequence: 2, outcomes: [late],
                                      consentEvents: withdrawal.batch.consentEvents, receivedAt: Date())
        #expect(try await store.storeBatch(resend) == .alreadyStored(receipt: bytes))
        #expect(try await compliance.withdrawalReport().first?.blockedAt == blockedAt)
    }

    @Test("retention deletes outcomes past their purpose's period, with receipts; BIPA caps at three years after the last interaction",
          arguments: StoreBackEnd.available)
    func retention(backEnd: StoreBackEnd) async throws {
        let (store, compliance, cleanup) = try await open(backEnd)
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        let day: TimeInterval = 86_400
        let old = Self.outcome(Fixture.subject, at: Self.now.addingTimeInterval(-40 * day))
        let recent = Self.outcome(Fixture.subject, at: Self.now.addingTimeInterval(-10 * day))
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: [old, recent],
                                                        consentEvents: [Fixture.consent(.grant, at: Self.now.addingTimeInterval(-100 * day))]))
        #expect(try await compliance.setRetention(RetentionRule(jurisdiction: "default", purpose: .thresholdCalibration, days: 30),
                                                  actor: "test", at: Self.now))
        #expect(try await compliance.overdueRetention(now: Self.now).first?.outcomes == 1)
        let swept = try await compliance.sweepRetention(now: Self.now)
        #expect(swept.map(\.outcomesErased) == [1])
        #expect(swept.first?.cause == .retention)
        #expect(try await store.outcomeStats().totalEvents == 1)
        #expect(try await compliance.overdueRetention(now: Self.now).isEmpty)
        #expect(try await compliance.sweepRetention(now: Self.now).isEmpty, "a second sweep finds nothing")

        // Illinois: retention of ten years is cut to three after the subject's last interaction.
        try await compliance.upsertJurisdiction(JurisdictionRecord(name: "us-il", dataRegion: "us-central", biometricLaw: "bipa",
                                                                   requestDays: 45, pseudonymKey: Array(repeating: 7, count: 32)),
                                                actor: "test", at: Self.now)
        #expect(try await compliance.upsertSite(SiteRecord(site: "chicago", jurisdiction: "us-il", publicPlace: true), actor: "test", at: Self.now))
        #expect(try await compliance.setRetention(RetentionRule(jurisdiction: "us-il", purpose: .thresholdCalibration, days: 3650),
                                                  actor: "test", at: Self.now))
        var chicago = Self.outcome(Fixture.subject, at: Self.now.addingTimeInterval(-4 * 365 * day))
        chicago.cohort = .init(site: "chicago", cameraModel: "c1", tags: [])
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 2, outcomes: [chicago],
                                                        consentEvents: [Fixture.consent(.grant, at: Self.now.addingTimeInterval(-5 * 365 * day))]))
        #expect(try await compliance.sweepRetention(now: Self.now).map(\.outcomesErased) == [1])
    }

    @Test("retention counts from arrival too: an outcome dated in the future does not outlive its period",
          arguments: StoreBackEnd.available)
    func retentionFromArrival(backEnd: StoreBackEnd) async throws {
        let (store, compliance, cleanup) = try await open(backEnd)
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        let day: TimeInterval = 86_400
        // Stored 40 days ago by a kiosk whose clock said next year (before arrival times were checked).
        let futureDated = Self.outcome(Fixture.subject, at: Self.now.addingTimeInterval(365 * day))
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: [futureDated],
                                                        consentEvents: [Fixture.consent(.grant, at: Self.now.addingTimeInterval(-100 * day))],
                                                        receivedAt: Self.now.addingTimeInterval(-40 * day)))
        #expect(try await store.outcomeStats().totalEvents == 1)
        #expect(try await compliance.setRetention(RetentionRule(jurisdiction: "default", purpose: .thresholdCalibration, days: 30),
                                                  actor: "test", at: Self.now))
        #expect(try await compliance.overdueRetention(now: Self.now).first?.outcomes == 1)
        #expect(try await compliance.sweepRetention(now: Self.now).map(\.outcomesErased) == [1])
        #expect(try await store.outcomeStats().totalEvents == 0)
    }

    @Test("consent status answers only about subjects seen at the sites the asking kiosk is enrolled for", arguments: StoreBackEnd.available)
    func consentStatusScope(backEnd: StoreBackEnd) async throws {
        let (store, compliance, cleanup) = try await open(backEnd)
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1", sites: ["s1"])
        try await Fixture.enrolled(store, "kiosk-2", sites: ["s2"])
        let anna = Fixture.subject, ben = String(repeating: "b", count: 64)
        var bensGrant = Fixture.consent(.grant, pseudonym: ben)
        bensGrant.site = "s2"
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: [], consentEvents: [Fixture.consent(.grant)]))
        _ = try await store.storeBatch(Fixture.incoming("kiosk-2", sequence: 1, outcomes: [], consentEvents: [bensGrant]))
        let purpose = Purpose.thresholdCalibration
        #expect(try await compliance.consentDecisions(pseudonyms: [anna, ben], purpose: purpose, at: Self.now, askedBy: "kiosk-1")
                == [anna: nil, ben: .noConsent])
        #expect(try await compliance.consentDecisions(pseudonyms: [anna, ben], purpose: purpose, at: Self.now, askedBy: "kiosk-2")
                == [anna: .noConsent, ben: nil])
        // A withdrawal recorded at another kiosk of the same site reaches the kiosk that asks.
        var withdrawal = Fixture.consent(.withdraw, pseudonym: ben, at: Self.now.addingTimeInterval(-60))
        withdrawal.site = "s2"
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 2, outcomes: [], consentEvents: [withdrawal]))
        #expect(try await compliance.consentDecisions(pseudonyms: [ben], purpose: purpose, at: Self.now, askedBy: "kiosk-2")
                == [ben: .withdrawn])
        // Moved to s1, kiosk-2 learns about s1's subjects and no longer about s2's.
        #expect(try await store.moveDevice(id: "kiosk-2", to: ["s1"], at: Self.now, actor: "test") == ["s2"])
        #expect(try await compliance.consentDecisions(pseudonyms: [anna, ben], purpose: purpose, at: Self.now, askedBy: "kiosk-2")
                == [anna: nil, ben: .noConsent])
    }

    @Test("a material change of the consent text needs re-consent before new outcomes count", arguments: StoreBackEnd.available)
    func materialChange(backEnd: StoreBackEnd) async throws {
        let (store, compliance, cleanup) = try await open(backEnd)
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        let text = ConsentText(purpose: .thresholdCalibration, version: "v2", language: "en",
                               sha256: String(repeating: "c", count: 64), effectiveAt: Self.now.addingTimeInterval(-60), material: true)
        #expect(try await compliance.addConsentText(text, actor: "test", at: Self.now))
        #expect(try await compliance.addConsentText(text, actor: "test", at: Self.now) == false, "texts are never edited")
        let batch = Fixture.incoming("kiosk-1", sequence: 1, outcomes: [Self.outcome(Fixture.subject)])
        guard case let .stored(bytes) = try await store.storeBatch(batch) else { Issue.record("not stored"); return }
        #expect(try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes)).refusedEvents.map(\.reason) == ["reconsent-required"])
        var again = Fixture.consent(.reconsent, at: Self.now.addingTimeInterval(-30))
        again.textVersion = "v2"
        again.textSHA256 = String(repeating: "c", count: 64)
        let second = Fixture.incoming("kiosk-1", sequence: 2, outcomes: [Self.outcome(Fixture.subject)], consentEvents: [again])
        guard case let .stored(secondBytes) = try await store.storeBatch(second) else { Issue.record("not stored"); return }
        #expect(try WireJSON.decoder().decode(BatchReceipt.self, from: Data(secondBytes)).acceptedEvents == 1)
        let coverage = try await compliance.reconsentCoverage()
        #expect(coverage.first?.subjectsNeedingReconsent == 1 && coverage.first?.subjectsReconsented == 1)
    }

    @Test("every audited change is appended in order, and the stored leaves hash to a tree the checkpoint commits to",
          arguments: StoreBackEnd.available)
    func auditLog(backEnd: StoreBackEnd) async throws {
        let (store, compliance, cleanup) = try await open(backEnd)
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: [Self.outcome(Fixture.subject)]))
        // A withdrawal's erasure is audited after the events before it and before those after it.
        let ben = String(repeating: "b", count: 64), cleo = String(repeating: "c", count: 64)
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 2, outcomes: [], consentEvents: [
            Fixture.consent(.grant, pseudonym: ben), Fixture.consent(.withdraw, pseudonym: Fixture.subject, at: Self.now.addingTimeInterval(-60)),
            Fixture.consent(.grant, pseudonym: cleo),
        ]))
        _ = try await store.revokeDevice(id: "kiosk-1", at: Self.now, actor: "test")
        let size = try await compliance.auditTreeSize()
        let entries = try await compliance.auditEntries(from: 0, to: size)
        let decoded = try entries.map { try AuditEntry(entryBytes: $0) }
        #expect(decoded.map(\.kind) == [.deviceEnrolled, .consentTextAdded, .consentEvent, .consentEvent, .consentEvent, .erasure,
                                        .consentEvent, .deviceRevoked])
        #expect(decoded[3...6].map { entry in entry.details.first { $0.key == "subject_pseudonym" }?.value.stringValue }
                == [ben, Fixture.subject, Fixture.subject, cleo])
        #expect(try entries.enumerated().allSatisfy { index, bytes in try AuditEntry(entryBytes: bytes).index == index })
        let leaves = try await compliance.auditLeafHashes(count: size)
        #expect(leaves == entries.map { MerkleTree.leafHash($0).bytes })
    }

    @Test("a limit keeps outcomes out of computations; an erasure request blocks later uploads; a withdrawal needs no registered text; new jurisdictions get retention rules",
          arguments: StoreBackEnd.available)
    func restrictions(backEnd: StoreBackEnd) async throws {
        let (store, compliance, cleanup) = try await open(backEnd)
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        let anna = Fixture.subject, ben = String(repeating: "b", count: 64), cleo = String(repeating: "c", count: 64)
        let grants = [anna, ben, cleo].map { Fixture.consent(.grant, pseudonym: $0) }
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: [Self.outcome(anna), Self.outcome(ben), Self.outcome(cleo)],
                                                        consentEvents: grants))
        #expect(try await store.calibrationOutcomes(from: nil, to: nil).count == 3)

        // Anna restricts processing: her outcome stays stored but is left out of computations.
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 2, outcomes: [],
                                                        consentEvents: [Fixture.consent(.limit, pseudonym: anna, at: Self.now.addingTimeInterval(10))]))
        #expect(try await store.outcomeStats().totalEvents == 3)
        #expect(try await store.calibrationOutcomes(from: nil, to: nil).count == 2)

        // Ben asks for erasure: his outcomes go, and a later upload of his is refused until he grants again.
        let erased = try await compliance.eraseSubject(pseudonym: ben, purposes: Purpose.allCases, cause: .request, trigger: "request-1",
                                                       requestedAt: Self.now.addingTimeInterval(20), actor: "test", at: Self.now.addingTimeInterval(20))
        #expect(erased.first { $0.purpose == .thresholdCalibration }?.outcomesErased == 1)
        let later = Fixture.incoming("kiosk-1", sequence: 3, outcomes: [Self.outcome(ben, at: Self.now.addingTimeInterval(30))], consentEvents: [])
        guard case let .stored(bytes) = try await store.storeBatch(later) else { Issue.record("not stored"); return }
        #expect(try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes)).refusedEvents.map(\.reason) == ["consent-withdrawn"])

        // Cleo withdraws citing a text the server never saw: the withdrawal still erases.
        var withdrawal = Fixture.consent(.withdraw, pseudonym: cleo, at: Self.now.addingTimeInterval(40))
        withdrawal.textVersion = "unknown"
        _ = try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 4, outcomes: [], consentEvents: [withdrawal]))
        #expect(try await compliance.subjectExport(pseudonym: cleo).outcomes.isEmpty)

        try await compliance.upsertJurisdiction(JurisdictionRecord(name: "eu-1", dataRegion: "eu-west", biometricLaw: nil, requestDays: 30,
                                                                   pseudonymKey: Array(repeating: 1, count: 32)), actor: "test", at: Self.now)
        #expect(try await compliance.retentionRules().filter { $0.jurisdiction == "eu-1" }.count == Purpose.allCases.count)
    }
}

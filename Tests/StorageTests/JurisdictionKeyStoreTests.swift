import AuditLog
import Compliance
import FeedbackWire
import Foundation
import Storage
import StrictJSON
import Testing

/// Versioned pseudonymisation keys on both back ends: rotation, the refusal of events naming
/// a version their jurisdiction does not have, and kiosks' re-keying of stored pseudonyms.
@Suite("Jurisdiction key versions")
struct JurisdictionKeyStoreTests {
    typealias Fixture = FeedbackStoreTests
    static let now = Fixture.now
    static let anna = String(repeating: "a", count: 64), annaV2 = String(repeating: "c", count: 64)
    static let ben = String(repeating: "b", count: 64)

    static func entries(_ compliance: any ComplianceStore) async throws -> [AuditEntry] {
        try await compliance.auditEntries(from: 0, to: try await compliance.auditTreeSize()).map { try AuditEntry(entryBytes: $0) }
    }

    static func detail(_ entry: AuditEntry?, _ key: String) -> JSONValue? {
        entry?.details.first { $0.key == key }?.value
    }

    static func outcome(_ pseudonym: String, version: Int = 1, site: String = "s1", label: MatchOutcome.Label = .genuine) -> MatchOutcome {
        var outcome = Fixture.outcome(label: label, site: site)
        outcome.subject = .init(pseudonym: pseudonym, consentRef: "c", keyVersion: version)
        return outcome
    }

    static func grant(_ pseudonym: String, version: Int = 1, site: String = "s1") -> ConsentEvent {
        var event = Fixture.consent(.grant, pseudonym: pseudonym)
        event.keyVersion = version
        event.site = site
        return event
    }

    /// The live statistics of the whole history equal those rebuilt from the stored outcomes
    /// (an impostor's subject groups its scores, so a re-keyed subject's must move with it).
    static func statisticsAgree(_ store: any FeedbackStore) async throws -> Bool {
        let daily = try ScoreStatisticsRebuild.daily(try await store.calibrationOutcomes(from: nil, to: nil))
        return try await store.scoreStatistics(firstDay: nil, lastDay: nil) == (try ScoreStatisticsRebuild.window(daily, firstDay: nil, lastDay: nil))
    }

    static func receipt(_ result: BatchStoreResult) throws -> BatchReceipt {
        guard case let .stored(bytes) = result else { throw StoreTestFailure("batch not stored: \(result)") }
        return try WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes))
    }

    @Test("a jurisdiction starts at key version 1; a rotation makes version 2 current, keeps version 1 readable and appends an entry that names no key",
          arguments: StoreBackEnd.available)
    func rotation(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let compliance = try #require(store as? any ComplianceStore)
        let before = try #require(try await compliance.jurisdictions().first { $0.name == "default" })
        #expect(before.keyVersion == 1 && before.pseudonymKey.count == 32)
        #expect(try await compliance.jurisdictionKey(jurisdiction: "default", version: 1)?.key == before.pseudonymKey)

        let newKey = Pseudonymizer.generateKey()
        let rotated = try #require(try await compliance.rotatePseudonymKey(jurisdiction: "default", key: newKey, actor: "admin:test", at: Self.now))
        #expect(rotated.version == 2 && rotated.key == newKey)
        let after = try #require(try await compliance.jurisdictions().first { $0.name == "default" })
        #expect(after.keyVersion == 2 && after.pseudonymKey == newKey)
        #expect(try await compliance.jurisdiction(ofSite: "unregistered-site")?.keyVersion == 2)
        #expect(try await compliance.jurisdictionKey(jurisdiction: "default", version: 1)?.key == before.pseudonymKey)
        #expect(try await compliance.jurisdictionKey(jurisdiction: "default", version: 3) == nil)
        #expect(try await compliance.rotatePseudonymKey(jurisdiction: "nowhere", key: newKey, actor: "admin:test", at: Self.now) == nil)

        let entry = try #require(try await Self.entries(compliance).last)
        #expect(entry.kind == .pseudonymKeyRotated && entry.actor == "admin:test")
        #expect(Self.detail(entry, "jurisdiction") == .string("default") && Self.detail(entry, "version") == .number(2))
        let bytes = String(decoding: entry.entryBytes, as: UTF8.self)
        #expect(!bytes.contains(Data(newKey).base64EncodedString()) && !bytes.contains(newKey.map { String(format: "%02x", $0) }.joined()))

        // Updating the jurisdiction keeps its keys.
        try await compliance.upsertJurisdiction(JurisdictionRecord(name: "default", dataRegion: "eu", biometricLaw: nil, requestDays: 30,
                                                                   pseudonymKey: Pseudonymizer.generateKey()),
                                                actor: "test", at: Self.now)
        #expect(try await compliance.jurisdictions().first { $0.name == "default" }?.pseudonymKey == newKey)
    }

    @Test("an outcome or consent event naming a key version its jurisdiction does not have is refused, and nothing of it is stored",
          arguments: StoreBackEnd.available)
    func unknownVersion(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let compliance = try #require(store as? any ComplianceStore)
        try await Fixture.enrolled(store, "kiosk-1")
        let early = Self.grant(Self.anna, version: 2)
        let earlyOutcome = Self.outcome(Self.anna, version: 2)
        let first = try Self.receipt(try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 1, outcomes: [earlyOutcome],
                                                                                 consentEvents: [early])))
        #expect(first.refusedEvents.map(\.reason) == ["unknown-key-version", "unknown-key-version"])
        #expect(first.refusedEvents.map(\.eventID) == [early.eventID, earlyOutcome.eventID])
        #expect(first.acceptedEvents == 0)
        #expect(try await compliance.consentEvents(ConsentEventFilter(pseudonym: Self.anna)).isEmpty)
        #expect(try await compliance.subjectExport(pseudonym: Self.anna).outcomes.isEmpty)

        // Once the jurisdiction has version 2, the same events are stored.
        _ = try await compliance.rotatePseudonymKey(jurisdiction: "default", key: Pseudonymizer.generateKey(), actor: "test", at: Self.now)
        let second = try Self.receipt(try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 2, outcomes: [Self.outcome(Self.anna, version: 2)],
                                                                                  consentEvents: [Self.grant(Self.anna, version: 2)])))
        #expect(second.refusedEvents.isEmpty && second.acceptedEvents == 1)
        #expect(try await compliance.consentEvents(ConsentEventFilter(pseudonym: Self.anna)).map(\.event.keyVersion) == [2])
        #expect(try await compliance.subjectExport(pseudonym: Self.anna).outcomes.count == 1)
    }

    @Test("a batch is checked against the key versions of its sites' jurisdictions as they are when it is stored: moving a site to another jurisdiction, or rotating that jurisdiction's key, changes what the next batch may name",
          arguments: StoreBackEnd.available)
    func siteMoved(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let compliance = try #require(store as? any ComplianceStore)
        try await Fixture.enrolled(store, "kiosk-1")
        try await compliance.upsertJurisdiction(JurisdictionRecord(name: "other", dataRegion: "us", biometricLaw: nil, requestDays: 30,
                                                                   pseudonymKey: Pseudonymizer.generateKey()), actor: "test", at: Self.now)
        var sequence: Int64 = 0
        func refusals(version: Int) async throws -> [String] {
            sequence += 1
            let receipt = try Self.receipt(try await store.storeBatch(Fixture.incoming(
                "kiosk-1", sequence: sequence, outcomes: [Self.outcome(Self.anna, version: version, site: "s2")],
                consentEvents: sequence == 1 ? [Self.grant(Self.anna, site: "s2")] : [])))
            return receipt.refusedEvents.map(\.reason)
        }
        // s2 belongs to no registered jurisdiction: the default one's version 1 only.
        #expect(try await refusals(version: 1) == [])
        #expect(try await refusals(version: 2) == ["unknown-key-version"])
        _ = try await compliance.rotatePseudonymKey(jurisdiction: "other", key: Pseudonymizer.generateKey(), actor: "test", at: Self.now)
        #expect(try await refusals(version: 2) == ["unknown-key-version"])
        #expect(try await compliance.upsertSite(SiteRecord(site: "s2", jurisdiction: "other", publicPlace: false), actor: "test", at: Self.now))
        #expect(try await refusals(version: 2) == [])
        #expect(try await refusals(version: 3) == ["unknown-key-version"])
        _ = try await compliance.rotatePseudonymKey(jurisdiction: "other", key: Pseudonymizer.generateKey(), actor: "test", at: Self.now)
        #expect(try await refusals(version: 3) == [])
        #expect(try await compliance.upsertSite(SiteRecord(site: "s2", jurisdiction: JurisdictionRecord.defaultName, publicPlace: false),
                                                actor: "test", at: Self.now))
        #expect(try await refusals(version: 2) == ["unknown-key-version"])
    }

    @Test("re-keying moves a subject's consent events, outcomes, erasures and requests of the jurisdiction to the new pseudonym; the consent ledger continues for them only, other jurisdictions are untouched, and one audit entry names no pseudonym",
          arguments: StoreBackEnd.available)
    func rekey(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        let compliance = try #require(store as? any ComplianceStore)
        try await Fixture.enrolled(store, "kiosk-1")
        try await compliance.upsertJurisdiction(JurisdictionRecord(name: "other", dataRegion: "us", biometricLaw: nil, requestDays: 30,
                                                                   pseudonymKey: Pseudonymizer.generateKey()), actor: "test", at: Self.now)
        #expect(try await compliance.upsertSite(SiteRecord(site: "s2", jurisdiction: "other", publicPlace: false), actor: "test", at: Self.now))
        // The same pseudonym text at a site of another jurisdiction must stay as it is.
        _ = try Self.receipt(try await store.storeBatch(Fixture.incoming(
            "kiosk-1", sequence: 1, outcomes: [Self.outcome(Self.anna, label: .impostor), Self.outcome(Self.anna, site: "s2")],
            consentEvents: [Self.grant(Self.anna), Self.grant(Self.ben), Self.grant(Self.anna, site: "s2")])))
        _ = try await compliance.eraseSubject(pseudonym: Self.anna, purposes: [.modelImprovement], cause: .request, trigger: nil,
                                              requestedAt: Self.now, actor: "test", at: Self.now)
        try await compliance.addSubjectRequest(SubjectRequestRecord(requestID: UUID().uuidString.lowercased(), pseudonym: Self.anna,
                                                                    kind: .access, jurisdiction: "default", receivedAt: Self.now,
                                                                    dueAt: Self.now, completedAt: nil), actor: "test")
        _ = try await compliance.rotatePseudonymKey(jurisdiction: "default", key: Pseudonymizer.generateKey(), actor: "test", at: Self.now)

        let rekey = PseudonymRekeyRequest(jurisdiction: "default", fromVersion: 1, toVersion: 2, pairs: [.init(from: Self.anna, to: Self.annaV2)])
        let result = try await compliance.rekeyPseudonyms(rekey, deviceID: "kiosk-1", at: Self.now)
        #expect(result == PseudonymRekeyResult(pairs: 1, consentEvents: 1, outcomes: 1, erasures: 1, subjectRequests: 1))
        #expect(try await Self.statisticsAgree(store), "the live statistics follow the re-keyed impostor attempt")

        let moved = try await compliance.subjectExport(pseudonym: Self.annaV2)
        #expect(moved.consentEvents.map(\.event.keyVersion) == [2] && moved.consentEvents.first?.event.site == "s1")
        #expect(moved.outcomes.count == 1 && moved.erasures.count == 1 && moved.requests.count == 1)
        let left = try await compliance.subjectExport(pseudonym: Self.anna)
        #expect(left.consentEvents.map(\.event.site) == ["s2"] && left.outcomes.count == 1, "the other jurisdiction's records keep theirs")
        #expect(left.erasures.isEmpty && left.requests.isEmpty)

        // The ledger continues for the re-keyed subject, and only for them.
        let benV2 = String(repeating: "d", count: 64)
        let annaOutcome = Self.outcome(Self.annaV2, version: 2), benOutcome = Self.outcome(benV2, version: 2)
        let after = try Self.receipt(try await store.storeBatch(Fixture.incoming("kiosk-1", sequence: 2, outcomes: [annaOutcome, benOutcome],
                                                                                 consentEvents: [])))
        #expect(after.acceptedEvents == 1)
        #expect(after.refusedEvents.map(\.eventID) == [benOutcome.eventID] && after.refusedEvents.first?.reason == "no-consent")
        #expect(try await Self.statisticsAgree(store))

        let entry = try #require(try await Self.entries(compliance).last)
        #expect(entry.kind == .pseudonymsRekeyed && entry.actor == "device:kiosk-1")
        #expect(Self.detail(entry, "from_version") == .number(1) && Self.detail(entry, "to_version") == .number(2))
        #expect(Self.detail(entry, "pairs") == .number(1) && Self.detail(entry, "consent_events") == .number(1))
        let bytes = String(decoding: entry.entryBytes, as: UTF8.self)
        #expect(!bytes.contains(Self.anna) && !bytes.contains(Self.annaV2))

        // Again: nothing is left under the old pseudonym in this jurisdiction.
        #expect(try await compliance.rekeyPseudonyms(rekey, deviceID: "kiosk-1", at: Self.now) == PseudonymRekeyResult(pairs: 1))
    }
}

struct StoreTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

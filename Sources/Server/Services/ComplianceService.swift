import Compliance
import Crypto
import FeedbackWire
import Foundation
import Hummingbird
import Storage
import StrictJSON

/// What compliance officers review and manage: jurisdictions, sites, retention, consent texts
/// and records, erasures with signed receipts, data-subject requests and the record of
/// processing activities; and what kiosks ask: consent status and their pseudonymisation key.
/// Every input is checked here before the store sees it.
struct ComplianceService: Sendable {
    let compliance: any ComplianceStore
    /// Signs erasure receipts: the audit key as it is now (the receipt's key id names it; its
    /// history from the key the reviewer pinned is at `GET /v1/audit/signing-keys`).
    let signingKey: @Sendable () -> Curve25519.Signing.PrivateKey
    let now: @Sendable () -> Date

    /// Jurisdictions as people see them: never their pseudonymisation keys.
    func jurisdictions() async throws -> [JurisdictionView] {
        try await compliance.jurisdictions().map(JurisdictionView.init)
    }

    /// Creates or updates a jurisdiction; an update keeps its pseudonymisation key, so pseudonyms stay stable.
    func upsertJurisdiction(_ request: JurisdictionRequest, by caller: APITokenRecord) async throws -> (view: JurisdictionView, created: Bool) {
        try Self.checkName(request.name, "name")
        try Self.checkName(request.dataRegion, "data_region")
        guard request.biometricLaw == nil || request.biometricLaw == "bipa" else {
            throw ProblemResponse(.invalidRequest, "biometric_law is bipa or absent")
        }
        let days = request.requestDays ?? 30
        guard (1...365).contains(days) else { throw ProblemResponse(.invalidRequest, "request_days must be 1 to 365") }
        let existing = try await compliance.jurisdictions().first { $0.name == request.name }
        let record = JurisdictionRecord(name: request.name, dataRegion: request.dataRegion, biometricLaw: request.biometricLaw,
                                        requestDays: days, pseudonymKey: existing?.pseudonymKey ?? Pseudonymizer.generateKey())
        try await compliance.upsertJurisdiction(record, actor: caller.actor, at: now())
        return (JurisdictionView(record), existing == nil)
    }

    func sites() async throws -> [SiteRecord] { try await compliance.sites() }

    func upsertSite(_ site: SiteRecord, by caller: APITokenRecord) async throws -> SiteRecord {
        try Self.checkName(site.site, "site")
        guard try await compliance.upsertSite(site, actor: caller.actor, at: now()) else {
            throw ProblemResponse(.invalidRequest, "no jurisdiction \(site.jurisdiction); create it first")
        }
        return site
    }

    func retentionRules() async throws -> [RetentionRule] { try await compliance.retentionRules() }

    func setRetention(_ rule: RetentionRule, by caller: APITokenRecord) async throws -> RetentionRule {
        guard (1...36_500).contains(rule.days) else { throw ProblemResponse(.invalidRequest, "days must be 1 to 36500") }
        guard try await compliance.setRetention(rule, actor: caller.actor, at: now()) else {
            throw ProblemResponse(.invalidRequest, "no jurisdiction \(rule.jurisdiction)")
        }
        return rule
    }

    func overdueRetention() async throws -> [OverdueRetention] { try await compliance.overdueRetention(now: now()) }

    func sweepRetention() async throws -> [ErasureRecord] { try await compliance.sweepRetention(now: now()) }

    func consentTexts() async throws -> [ConsentText] { try await compliance.consentTexts() }

    /// Records a consent text by its SHA-256; texts are never edited, a change is a new version.
    func addConsentText(_ request: ConsentTextRequest, by caller: APITokenRecord) async throws -> ConsentText {
        try Self.checkName(request.version, "version")
        try Self.checkName(request.language, "language")
        guard !request.text.isEmpty, request.text.utf8.count <= 32_768 else {
            throw ProblemResponse(.invalidRequest, "text must be 1 to 32768 bytes")
        }
        let text = ConsentText(purpose: request.purpose, version: request.version, language: request.language,
                               sha256: SHA256.hash(data: Data(request.text.utf8)).lowercaseHex,
                               effectiveAt: request.effectiveAt, material: request.material)
        guard try await compliance.addConsentText(text, actor: caller.actor, at: now()) else {
            throw ProblemResponse(.releaseStateConflict, "\(request.purpose.rawValue) \(request.version) (\(request.language)) exists; texts are never edited, add a new version")
        }
        return text
    }

    func consentEvents(_ query: Parameters) async throws -> JSONValue {
        .array(try await compliance.consentEvents(try Self.consentFilter(query)).map(\.json))
    }

    func withdrawalReport() async throws -> [WithdrawalReportRow] { try await compliance.withdrawalReport() }

    func reconsentCoverage() async throws -> [ReconsentCoverage] { try await compliance.reconsentCoverage() }

    func erasures() async throws -> [ErasureRecord] { try await compliance.erasures() }

    /// The erasure record signed with the audit key, as of the time of the erasure.
    func erasureReceipt(id: String) async throws -> SignedRelease {
        guard let erasure = try await compliance.erasure(id: id) else { throw ProblemResponse(.notFound, "no erasure \(id)") }
        let payload = [UInt8](try WireJSON.encoder().encode(erasure))
        return try SignedRelease.sign(kind: .erasureReceipt, version: 1, payload: payload, key: signingKey(), at: erasure.erasedAt)
    }

    /// A subject's pseudonym in a jurisdiction, for an officer who holds the subject's raw id.
    func pseudonym(_ request: PseudonymRequest) async throws -> JSONValue {
        guard (1...256).contains(request.subjectID.count) else { throw ProblemResponse(.invalidRequest, "subject_id must be 1 to 256 characters") }
        let jurisdiction = try await jurisdiction(named: request.jurisdiction)
        // The raw id is used for this computation only: it is neither logged nor stored.
        let pseudonym = Pseudonymizer(key: jurisdiction.pseudonymKey).pseudonym(for: request.subjectID)
        return .object([("jurisdiction", .string(jurisdiction.name)), ("subject_pseudonym", .string(pseudonym)),
                        ("key_version", .number(Double(jurisdiction.keyVersion)))])
    }

    func subjectExport(pseudonym text: String) async throws -> JSONValue {
        try await compliance.subjectExport(pseudonym: try Self.pseudonym(text)).json
    }

    func subjectRequests() async throws -> [SubjectRequestRecord] { try await compliance.subjectRequests() }

    /// Records a data-subject request and answers it at once: the export, or the erasure of
    /// every purpose. The due date is recorded for the review of deadlines.
    func answer(_ request: SubjectRequestRequest, by caller: APITokenRecord) async throws -> JSONValue {
        let pseudonym = try Self.pseudonym(request.subjectPseudonym)
        let jurisdiction = try await jurisdiction(named: request.jurisdiction ?? JurisdictionRecord.defaultName)
        let received = now()
        let record = SubjectRequestRecord(requestID: UUID().uuidString.lowercased(), pseudonym: pseudonym, kind: request.kind,
                                          jurisdiction: jurisdiction.name, receivedAt: received,
                                          dueAt: RetentionSchedule.requestDue(receivedAt: received, requestDays: jurisdiction.requestDays),
                                          completedAt: nil)
        try await compliance.addSubjectRequest(record, actor: caller.actor)
        let result: JSONValue
        switch request.kind {
        case .access:
            result = try await compliance.subjectExport(pseudonym: pseudonym).json
        case .erasure:
            result = try JSONValue(encoding: try await compliance.eraseSubject(
                pseudonym: pseudonym, purposes: Purpose.allCases, cause: .request, trigger: record.requestID,
                requestedAt: received, actor: caller.actor, at: now()))
        }
        // Only a digest of the answer is kept: a stored copy of an export would outlive the
        // erasures and retention sweeps that follow it.
        let digest = SHA256.hash(data: result.serialized()).lowercaseHex
        let completed = try await compliance.completeSubjectRequest(id: record.requestID, at: now(), resultSHA256: digest)
        return .object([("request", try JSONValue(encoding: completed ?? record)), ("result", result)])
    }

    func processingRecord() async throws -> JSONValue {
        ProcessingRecord(jurisdictions: try await compliance.jurisdictions().map {
            .init(name: $0.name, dataRegion: $0.dataRegion, biometricLaw: $0.biometricLaw, requestDays: $0.requestDays)
        }, retention: try await compliance.retentionRules(), texts: try await compliance.consentTexts()).json
    }

    /// Which of the subjects' consent to the purpose is in force now, as `device` may learn it.
    func consentStatus(_ request: ConsentStatusRequest, askedBy device: DeviceRecord) async throws -> JSONValue {
        guard request.subjectPseudonyms.count <= 900 else {
            throw ProblemResponse(.invalidRequest, "ask about at most 900 subjects at a time")
        }
        let pseudonyms = try request.subjectPseudonyms.map(Self.pseudonym)
        let decisions = try await compliance.consentDecisions(pseudonyms: pseudonyms, purpose: request.purpose, at: now(),
                                                              askedBy: device.deviceID)
        let covered = decisions.filter { $0.value == nil }.keys.sorted()
        let refused = decisions.compactMap { pseudonym, refusal in
            refusal.map { JSONValue.object([("subject_pseudonym", .string(pseudonym)), ("reason", .string($0.rawValue))]) }
        }
        return .object([("purpose", .string(request.purpose.rawValue)), ("covered", .array(covered.map(JSONValue.string))),
                        ("refused", .array(refused))])
    }

    func jurisdiction(named name: String) async throws -> JurisdictionRecord {
        guard let jurisdiction = try await compliance.jurisdictions().first(where: { $0.name == name }) else {
            throw ProblemResponse(.notFound, "no jurisdiction \(name)")
        }
        return jurisdiction
    }

    /// `subject`, `site`, `purpose`, `from` and `to` (RFC 3339); empty values filter nothing.
    static func consentFilter(_ query: Parameters) throws -> ConsentEventFilter {
        func value(_ key: String) -> String? { query[Substring(key)].map(String.init).flatMap { $0.isEmpty ? nil : $0 } }
        var filter = ConsentEventFilter()
        filter.pseudonym = value("subject")
        filter.site = value("site")
        if let purpose = value("purpose") {
            guard let parsed = Purpose(rawValue: purpose) else { throw ProblemResponse(.invalidRequest, "unknown purpose \(purpose)") }
            filter.purpose = parsed
        }
        for (key, keyPath) in [("from", \ConsentEventFilter.from), ("to", \ConsentEventFilter.to)] {
            if let text = value(key) {
                guard let date = RFC3339.parse(text) else { throw ProblemResponse(.invalidRequest, "\(key) must be an RFC 3339 time") }
                filter[keyPath: keyPath] = date
            }
        }
        return filter
    }

    static func checkName(_ value: String, _ field: String) throws {
        guard (1...64).contains(value.count), value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.:".contains($0)) }) else {
            throw ProblemResponse(.invalidRequest, "\(field) must be 1 to 64 ASCII letters, digits or -_.:")
        }
    }

    static func pseudonym(_ text: String) throws -> String {
        guard text.isLowercaseHex(count: 64) else {
            throw ProblemResponse(.invalidRequest, "a subject pseudonym is 64 lowercase hex digits")
        }
        return text
    }
}

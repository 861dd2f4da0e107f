import Compliance
import Crypto
import Feedback
import Foundation
import HTTPTypes
import Hummingbird
import Storage

/// What compliance officers review and manage: jurisdictions, sites, retention, consent
/// texts and records, withdrawals, erasures with signed receipts, data-subject requests and
/// the record of processing activities. Kiosks fetch their pseudonymisation key here too.
struct ComplianceRoutes: Sendable {
    let compliance: any ComplianceStore
    let admin: AdminAuthenticator
    let kiosks: KioskAuthentication
    let receiptKey: Curve25519.Signing.PrivateKey
    let now: @Sendable () -> Date

    static let officer: Set<String> = ["compliance"]

    func register(on router: Router<FeedbackRequestContext>) {
        let officer = Self.officer
        router.get("/v1/compliance/jurisdictions") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.compliance.jurisdictions().map(JurisdictionView.init), status: .ok)
        }
        router.post("/v1/compliance/jurisdictions") { request, _ in
            let caller = try await self.admin.require(request, roles: ["admin"])
            let body = try await JSONBody.decode(JurisdictionRequest.self, from: request)
            try Self.checkName(body.name, "name")
            try Self.checkName(body.dataRegion, "data_region")
            guard body.biometricLaw == nil || body.biometricLaw == "bipa" else {
                throw ProblemResponse(.invalidRequest, "biometric_law is bipa or absent")
            }
            let days = body.requestDays ?? 30
            guard (1...365).contains(days) else { throw ProblemResponse(.invalidRequest, "request_days must be 1 to 365") }
            let existing = try await self.compliance.jurisdictions().first { $0.name == body.name }
            let record = JurisdictionRecord(name: body.name, dataRegion: body.dataRegion, biometricLaw: body.biometricLaw,
                                            requestDays: days, pseudonymKey: existing?.pseudonymKey ?? Pseudonymizer.generateKey())
            try await self.compliance.upsertJurisdiction(record, actor: caller.actor, at: self.now())
            return try JSONBody.response(JurisdictionView(record), status: existing == nil ? .created : .ok)
        }
        router.get("/v1/compliance/sites") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.compliance.sites(), status: .ok)
        }
        router.post("/v1/compliance/sites") { request, _ in
            let caller = try await self.admin.require(request, roles: ["admin"])
            let body = try await JSONBody.decode(SiteRecord.self, from: request)
            try Self.checkName(body.site, "site")
            guard try await self.compliance.upsertSite(body, actor: caller.actor, at: self.now()) else {
                throw ProblemResponse(.invalidRequest, "no jurisdiction \(body.jurisdiction); create it first")
            }
            return try JSONBody.response(body, status: .ok)
        }
        router.get("/v1/compliance/retention") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.compliance.retentionRules(), status: .ok)
        }
        router.post("/v1/compliance/retention") { request, _ in
            let caller = try await self.admin.require(request, roles: officer)
            let body = try await JSONBody.decode(RetentionRule.self, from: request)
            guard (1...36_500).contains(body.days) else { throw ProblemResponse(.invalidRequest, "days must be 1 to 36500") }
            guard try await self.compliance.setRetention(body, actor: caller.actor, at: self.now()) else {
                throw ProblemResponse(.invalidRequest, "no jurisdiction \(body.jurisdiction)")
            }
            return try JSONBody.response(body, status: .ok)
        }
        router.get("/v1/compliance/retention/overdue") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.compliance.overdueRetention(now: self.now()), status: .ok)
        }
        router.post("/v1/compliance/retention/sweep") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.compliance.sweepRetention(now: self.now()), status: .ok)
        }
        router.get("/v1/compliance/consent-texts") { request, context in
            if try await self.admin.bearer(request) == nil { _ = try await self.kiosks.requireKiosk(request, context: context) }
            return try JSONBody.response(try await self.compliance.consentTexts(), status: .ok)
        }
        router.post("/v1/compliance/consent-texts") { request, _ in
            let caller = try await self.admin.require(request, roles: officer)
            let body = try await JSONBody.decode(ConsentTextRequest.self, from: request)
            try Self.checkName(body.version, "version")
            try Self.checkName(body.language, "language")
            guard !body.text.isEmpty, body.text.utf8.count <= 32_768 else {
                throw ProblemResponse(.invalidRequest, "text must be 1 to 32768 bytes")
            }
            let text = ConsentText(purpose: body.purpose, version: body.version, language: body.language,
                                   sha256: SHA256.hash(data: Data(body.text.utf8)).lowercaseHex,
                                   effectiveAt: body.effectiveAt, material: body.material)
            guard try await self.compliance.addConsentText(text, actor: caller.actor, at: self.now()) else {
                throw ProblemResponse(.releaseStateConflict, "\(body.purpose.rawValue) \(body.version) (\(body.language)) exists; texts are never edited, add a new version")
            }
            return try JSONBody.response(text, status: .created)
        }
        router.get("/v1/compliance/consent-events") { request, _ in
            try await self.admin.require(request, roles: officer)
            let events = try await self.compliance.consentEvents(try Self.consentFilter(request.uri.queryParameters))
            return Self.json(.array(events.map(Self.json(of:))))
        }
        router.get("/v1/compliance/withdrawals") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.compliance.withdrawalReport(), status: .ok)
        }
        router.get("/v1/compliance/reconsent") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.compliance.reconsentCoverage(), status: .ok)
        }
        router.get("/v1/compliance/erasures") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.compliance.erasures(), status: .ok)
        }
        router.get("/v1/compliance/erasures/:id/receipt") { request, context in
            try await self.admin.require(request, roles: officer)
            let id = try context.parameters.require("id")
            guard let erasure = try await self.compliance.erasure(id: id) else { throw ProblemResponse(.notFound, "no erasure \(id)") }
            let payload = [UInt8](try WireJSON.encoder().encode(erasure))
            let envelope = try SignedRelease.sign(kind: .erasureReceipt, version: 1, payload: payload, key: self.receiptKey,
                                                  at: erasure.erasedAt)
            return try JSONBody.response(envelope, status: .ok)
        }
        router.post("/v1/compliance/pseudonyms") { request, _ in
            try await self.admin.require(request, roles: officer)
            let body = try await JSONBody.decode(PseudonymRequest.self, from: request)
            guard (1...256).contains(body.subjectID.count) else { throw ProblemResponse(.invalidRequest, "subject_id must be 1 to 256 characters") }
            guard let jurisdiction = try await self.compliance.jurisdictions().first(where: { $0.name == body.jurisdiction }) else {
                throw ProblemResponse(.notFound, "no jurisdiction \(body.jurisdiction)")
            }
            // The raw id is used for this computation only: it is neither logged nor stored.
            let pseudonym = Pseudonymizer(key: jurisdiction.pseudonymKey).pseudonym(for: body.subjectID)
            return Self.json(.object([("jurisdiction", .string(jurisdiction.name)), ("subject_pseudonym", .string(pseudonym))]))
        }
        router.get("/v1/compliance/subjects/:pseudonym") { request, context in
            try await self.admin.require(request, roles: officer)
            let pseudonym = try Self.pseudonym(try context.parameters.require("pseudonym"))
            return Self.json(Self.json(of: try await self.compliance.subjectExport(pseudonym: pseudonym)))
        }
        router.get("/v1/compliance/requests") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.compliance.subjectRequests(), status: .ok)
        }
        router.post("/v1/compliance/requests") { request, _ in
            let caller = try await self.admin.require(request, roles: officer)
            let body = try await JSONBody.decode(SubjectRequestRequest.self, from: request)
            let pseudonym = try Self.pseudonym(body.subjectPseudonym)
            let name = body.jurisdiction ?? JurisdictionRecord.defaultName
            guard let jurisdiction = try await self.compliance.jurisdictions().first(where: { $0.name == name }) else {
                throw ProblemResponse(.notFound, "no jurisdiction \(name)")
            }
            let received = self.now()
            let record = SubjectRequestRecord(requestID: UUID().uuidString.lowercased(), pseudonym: pseudonym, kind: body.kind,
                                              jurisdiction: jurisdiction.name, receivedAt: received,
                                              dueAt: RetentionSchedule.requestDue(receivedAt: received, requestDays: jurisdiction.requestDays),
                                              completedAt: nil)
            try await self.compliance.addSubjectRequest(record, actor: caller.actor)
            // Both kinds are answered at once; the due date is recorded for the review of deadlines.
            let result: JSONValue
            switch body.kind {
            case .access:
                result = Self.json(of: try await self.compliance.subjectExport(pseudonym: pseudonym))
            case .erasure:
                let erasures = try await self.compliance.eraseSubject(pseudonym: pseudonym, purposes: Purpose.allCases, cause: .request,
                                                                      trigger: record.requestID, requestedAt: received,
                                                                      actor: caller.actor, at: self.now())
                result = try JSONValue.parse([UInt8](try WireJSON.encoder().encode(erasures)))
            }
            // Only a digest of the answer is kept: a stored copy of an export would outlive the
            // erasures and retention sweeps that follow it.
            let digest = SHA256.hash(data: result.serialized()).lowercaseHex
            let completed = try await self.compliance.completeSubjectRequest(id: record.requestID, at: self.now(), resultSHA256: digest)
            let view = try JSONValue.parse([UInt8](try WireJSON.encoder().encode(completed ?? record)))
            return Self.json(.object([("request", view), ("result", result)]), status: .created)
        }
        router.get("/v1/compliance/processing-record") { request, _ in
            try await self.admin.require(request, roles: officer)
            let record = ProcessingRecord(jurisdictions: try await self.compliance.jurisdictions().map {
                .init(name: $0.name, dataRegion: $0.dataRegion, biometricLaw: $0.biometricLaw, requestDays: $0.requestDays)
            }, retention: try await self.compliance.retentionRules(),
               texts: try await self.compliance.consentTexts())
            return Self.json(record.json)
        }
        router.post("/v1/kiosk/consent-status") { request, context in
            let device = try await self.kiosks.requireKiosk(request, context: context)
            let body = try await JSONBody.decode(ConsentStatusRequest.self, from: request)
            guard body.subjectPseudonyms.count <= 900 else {
                throw ProblemResponse(.invalidRequest, "ask about at most 900 subjects at a time")
            }
            let pseudonyms = try body.subjectPseudonyms.map(Self.pseudonym)
            let decisions = try await self.compliance.consentDecisions(pseudonyms: pseudonyms, purpose: body.purpose, at: self.now(),
                                                                       askedBy: device.deviceID)
            let covered = decisions.filter { $0.value == nil }.keys.sorted()
            let refused = decisions.compactMap { pseudonym, refusal in
                refusal.map { JSONValue.object([("subject_pseudonym", .string(pseudonym)), ("reason", .string($0.rawValue))]) }
            }
            return Self.json(.object([("purpose", .string(body.purpose.rawValue)), ("covered", .array(covered.map(JSONValue.string))),
                                      ("refused", .array(refused))]))
        }
        router.get("/v1/kiosk/pseudonym-key") { request, context in
            _ = try await self.kiosks.requireKiosk(request, context: context)
            guard let site = request.uri.queryParameters["site"].map(String.init), !site.isEmpty else {
                throw ProblemResponse(.invalidRequest, "name the kiosk's site: ?site=…")
            }
            guard let jurisdiction = try await self.compliance.jurisdiction(ofSite: site) else {
                throw ProblemResponse(.notFound, "no jurisdiction for site \(site)")
            }
            return try JSONBody.response(KioskPseudonymKey(site: site, jurisdiction: jurisdiction.name,
                                                           key: Data(jurisdiction.pseudonymKey).base64EncodedString()), status: .ok)
        }
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

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: .init(bytes: value.serialized())))
    }

    static func json(of stored: StoredConsentEvent) -> JSONValue {
        guard case var .object(members) = stored.event.json else { return .null }
        members.append(("device_id", .string(stored.deviceID)))
        members.append(("received_at", .string(RFC3339.format(stored.receivedAt))))
        members.append(("refusal", stored.refusal.map(JSONValue.string) ?? .null))
        return .object(members)
    }

    static func json(of export: SubjectExport) -> JSONValue {
        let erasures = (try? JSONValue.parse([UInt8]((try? WireJSON.encoder().encode(export.erasures)) ?? Data()))) ?? .array([])
        let requests = (try? JSONValue.parse([UInt8]((try? WireJSON.encoder().encode(export.requests)) ?? Data()))) ?? .array([])
        return .object([
            ("subject_pseudonym", .string(export.pseudonym)),
            ("consent_events", .array(export.consentEvents.map(json(of:)))),
            ("outcomes", .array(export.outcomes)),
            ("erasures", erasures),
            ("requests", requests),
        ])
    }
}

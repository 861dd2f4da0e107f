import Compliance
import FeedbackWire
import Hummingbird
import Storage

/// `/v1/compliance/*` for compliance officers (reference data changes for administrators),
/// the kiosk's consent-status and pseudonym-key reads (the key of its own sites only), its
/// re-keying of pseudonyms after a key rotation, and the administrator's key rotation; the
/// work is ``ComplianceService``'s.
struct ComplianceRoutes: Sendable {
    let service: ComplianceService
    let admin: AdminAuthenticator
    let kiosks: KioskAuthentication

    func register(on router: Router<FeedbackRequestContext>) {
        let officer: Set<Role> = [.compliance]
        router.get("/v1/compliance/jurisdictions") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.service.jurisdictions(), status: .ok)
        }
        router.post("/v1/compliance/jurisdictions") { request, _ in
            let caller = try await self.admin.requireAdmin(request)
            let body = try await JSONBody.decode(JurisdictionRequest.self, from: request)
            let (view, created) = try await self.service.upsertJurisdiction(body, by: caller)
            return try JSONBody.response(view, status: created ? .created : .ok)
        }
        router.get("/v1/compliance/sites") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.service.sites(), status: .ok)
        }
        router.post("/v1/compliance/sites") { request, _ in
            let caller = try await self.admin.requireAdmin(request)
            let body = try await JSONBody.decode(SiteRecord.self, from: request)
            return try JSONBody.response(try await self.service.upsertSite(body, by: caller), status: .ok)
        }
        router.get("/v1/compliance/retention") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.service.retentionRules(), status: .ok)
        }
        router.post("/v1/compliance/retention") { request, _ in
            let caller = try await self.admin.require(request, roles: officer)
            let body = try await JSONBody.decode(RetentionRule.self, from: request)
            return try JSONBody.response(try await self.service.setRetention(body, by: caller), status: .ok)
        }
        router.get("/v1/compliance/retention/overdue") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.service.overdueRetention(), status: .ok)
        }
        router.post("/v1/compliance/retention/sweep") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.service.sweepRetention(), status: .ok)
        }
        router.get("/v1/compliance/consent-texts") { request, context in
            if try await self.admin.bearer(request) == nil { _ = try await self.kiosks.requireKiosk(request, context: context) }
            return try JSONBody.response(try await self.service.consentTexts(), status: .ok)
        }
        router.post("/v1/compliance/consent-texts") { request, _ in
            let caller = try await self.admin.require(request, roles: officer)
            let body = try await JSONBody.decode(ConsentTextRequest.self, from: request)
            return try JSONBody.response(try await self.service.addConsentText(body, by: caller), status: .created)
        }
        router.get("/v1/compliance/consent-events") { request, _ in
            try await self.admin.require(request, roles: officer)
            return JSONBody.response(json: try await self.service.consentEvents(request.uri.queryParameters))
        }
        router.get("/v1/compliance/withdrawals") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.service.withdrawalReport(), status: .ok)
        }
        router.get("/v1/compliance/reconsent") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.service.reconsentCoverage(), status: .ok)
        }
        router.get("/v1/compliance/erasures") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.service.erasures(), status: .ok)
        }
        router.get("/v1/compliance/erasures/:id/receipt") { request, context in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.service.erasureReceipt(id: try context.parameters.require("id")), status: .ok)
        }
        router.post("/v1/compliance/pseudonyms") { request, _ in
            try await self.admin.require(request, roles: officer)
            let body = try await JSONBody.decode(PseudonymRequest.self, from: request)
            return JSONBody.response(json: try await self.service.pseudonym(body))
        }
        router.get("/v1/compliance/subjects/:pseudonym") { request, context in
            try await self.admin.require(request, roles: officer)
            return JSONBody.response(json: try await self.service.subjectExport(pseudonym: try context.parameters.require("pseudonym")))
        }
        router.get("/v1/compliance/requests") { request, _ in
            try await self.admin.require(request, roles: officer)
            return try JSONBody.response(try await self.service.subjectRequests(), status: .ok)
        }
        router.post("/v1/compliance/requests") { request, _ in
            let caller = try await self.admin.require(request, roles: officer)
            let body = try await JSONBody.decode(SubjectRequestRequest.self, from: request)
            return JSONBody.response(json: try await self.service.answer(body, by: caller), status: .created)
        }
        router.get("/v1/compliance/processing-record") { request, _ in
            try await self.admin.require(request, roles: officer)
            return JSONBody.response(json: try await self.service.processingRecord())
        }
        router.post("/v1/kiosk/consent-status") { request, context in
            let device = try await self.kiosks.requireKiosk(request, context: context)
            let body = try await JSONBody.decode(ConsentStatusRequest.self, from: request)
            return JSONBody.response(json: try await self.service.consentStatus(body, askedBy: device))
        }
        router.get("/v1/kiosk/pseudonym-key") { request, context in
            let device = try await self.kiosks.requireKiosk(request, context: context)
            let site = request.uri.queryParameters["site"].map(String.init)
            let version = request.uri.queryParameters["version"].map(String.init)
            return try JSONBody.response(try await self.service.pseudonymKey(site: site, version: version, askedBy: device), status: .ok)
        }
        router.post("/v1/kiosk/pseudonym-rekeys") { request, context in
            let device = try await self.kiosks.requireKiosk(request, context: context)
            let body = try await JSONBody.decode(PseudonymRekeyRequest.self, from: request)
            return try JSONBody.response(try await self.service.rekeyPseudonyms(body, by: device), status: .ok)
        }
        router.post("/v1/admin/jurisdictions/:name/pseudonym-key-rotations") { request, context in
            let caller = try await self.admin.requireAdmin(request)
            let name = try context.parameters.require("name")
            return try JSONBody.response(try await self.service.rotatePseudonymKey(jurisdiction: name, by: caller), status: .created)
        }
    }
}

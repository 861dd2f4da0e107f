import FeedbackWire
import Hummingbird

/// `/v1/audit/*`: checkpoints and bundles of the audit log and the audit key's history
/// (``AuditService``), for compliance officers.
struct AuditRoutes: Sendable {
    let audit: AuditService
    let admin: AdminAuthenticator

    func register(on router: Router<FeedbackRequestContext>) {
        let officer: Set<Role> = [.compliance]
        router.post("/v1/audit/checkpoints") { request, _ in
            try await self.admin.require(request, roles: officer)
            return JSONBody.response(json: try await self.audit.addCheckpoint(), status: .created)
        }
        router.get("/v1/audit/checkpoints") { request, _ in
            try await self.admin.require(request, roles: officer)
            return JSONBody.response(json: try await self.audit.checkpoints())
        }
        router.get("/v1/audit/bundle") { request, _ in
            try await self.admin.require(request, roles: officer)
            let since = try request.uri.queryParameters["since"].map { text in
                guard let size = Int(String(text)) else {
                    throw ProblemResponse(.notFound, "no stored checkpoint of tree size \(text); list them at /v1/audit/checkpoints")
                }
                return size
            }
            return JSONBody.response(bytes: try await self.audit.bundle(since: since))
        }
        router.get("/v1/audit/signing-keys") { request, _ in
            try await self.admin.require(request, roles: officer)
            return JSONBody.response(json: try await self.audit.signingKeys())
        }
    }
}

import FeedbackWire
import Hummingbird

/// `POST /v1/admin/enrollment-tokens` for administrators and `POST /v1/enrollments` for
/// kiosks, which present the token instead of any credential (``EnrollmentService``).
struct EnrollmentRoutes: Sendable {
    let enrollment: EnrollmentService
    let admin: AdminAuthenticator

    func register(on router: Router<FeedbackRequestContext>) {
        router.post("/v1/admin/enrollment-tokens") { request, _ in
            try await self.admin.requireAdmin(request)
            let body = try await JSONBody.decode(EnrollmentTokenRequest.self, from: request)
            return try JSONBody.response(try await self.enrollment.issueToken(body), status: .created)
        }
        router.post("/v1/enrollments") { request, context in
            let body = try await JSONBody.decode(EnrollmentRequest.self, from: request)
            let enrolled = try await self.enrollment.enroll(body)
            if enrolled.isNew { context.logger.notice("device enrolled", metadata: ["device": "\(body.deviceID)"]) }
            return try JSONBody.response(enrolled.response, status: .created)
        }
    }
}

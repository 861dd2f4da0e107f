import Hummingbird

/// `POST /v1/kiosk/certificate-renewals`: a kiosk's signed request for a new client
/// certificate (``CertificateRenewalService``).
struct CertificateRenewalRoutes: Sendable {
    let renewals: CertificateRenewalService
    let authentication: SignedUploadAuthentication

    func register(on router: Router<FeedbackRequestContext>) {
        router.post("/v1/kiosk/certificate-renewals") { request, context in
            let upload = try await self.authentication.authenticate(request, context: context, payload: "certificate request")
            let renewed = try await self.renewals.renew(upload)
            context.logger.notice("device certificate renewed", metadata: ["device": "\(upload.device.deviceID)"])
            return try JSONBody.response(renewed, status: .created)
        }
    }
}

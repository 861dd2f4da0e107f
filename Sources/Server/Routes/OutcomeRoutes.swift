import Hummingbird

/// `POST /v1/outcomes`: a kiosk's signed batch, accepted only after it is committed.
struct OutcomeRoutes: Sendable {
    let intake: OutcomeIntake
    let authentication: SignedUploadAuthentication

    func register(on router: Router<FeedbackRequestContext>) {
        router.post("/v1/outcomes") { request, context in
            let upload: SignedUploadAuthentication.Upload
            do {
                upload = try await self.authentication.authenticate(request, context: context, payload: "batch")
            } catch let problem as ProblemResponse {
                throw self.intake.rejected(problem)
            }
            return try await self.intake.accept(upload).response
        }
    }
}

extension UploadReceipt {
    /// 202 for a newly stored upload, 200 for a retry answered with the stored receipt.
    var response: Response { JSONBody.response(bytes: bytes, status: isNew ? .accepted : .ok) }
}

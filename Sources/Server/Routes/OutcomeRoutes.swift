import Feedback
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Storage

/// `POST /v1/outcomes`: a kiosk's signed batch, accepted only after it is committed.
struct OutcomeRoutes: Sendable {
    let store: any FeedbackStore
    let authentication: SignedUploadAuthentication
    let metrics: ServerMetrics

    func register(on router: Router<FeedbackRequestContext>) {
        router.post("/v1/outcomes") { request, context in
            try await self.receive(request, context: context)
        }
    }

    private func reject(_ type: ProblemType, _ detail: String? = nil, errors: [JSONSchemaViolation]? = nil,
                        events: Int? = nil) -> ProblemResponse {
        metrics.batchRejected(type, events: events)
        return ProblemResponse(type, detail, errors: errors)
    }

    func receive(_ request: Request, context: FeedbackRequestContext) async throws -> Response {
        let upload: SignedUploadAuthentication.Upload
        do {
            upload = try await authentication.authenticate(request, context: context, payload: "batch")
        } catch let refusal as SignedUploadAuthentication.Refusal {
            throw reject(refusal.problem, refusal.detail)
        }
        let (device, body, receivedAt) = (upload.device, upload.body, upload.receivedAt)

        let batch: OutcomeBatch
        switch OutcomeBatchValidator.shared.decode(body) {
        case let .success(decoded):
            batch = decoded
        case let .failure(.malformedJSON(error)):
            throw reject(.malformedJSON, error.description)
        case let .failure(.schema(violations)):
            throw reject(.schemaViolation, "\(violations.count) field(s) do not match outcome-batch.schema.json",
                         errors: violations)
        }
        guard batch.deviceID == device.deviceID else {
            throw reject(.deviceMismatch, "the batch names \(batch.deviceID) but was signed by \(device.deviceID)",
                         events: batch.outcomes.count)
        }
        let latest = receivedAt.addingTimeInterval(authentication.policy.maximumClockSkew)
        if let (pointer, date) = batch.firstEvent(datedAfter: latest) {
            throw reject(.timestampInFuture,
                         "\(RFC3339.format(date)) is more than \(Int(authentication.policy.maximumClockSkew)) s after the server's clock",
                         errors: [JSONSchemaViolation(pointer: pointer, keyword: "maximum", message: "must not be later than \(RFC3339.format(latest))")],
                         events: batch.outcomes.count)
        }

        let digest = ContentDigest.sha256Field(for: body)
        let incoming = IncomingBatch(batch: batch, body: body, contentDigest: digest,
                                     signatureInput: upload.signatureInput, signature: upload.signature,
                                     nonce: upload.nonce, receivedAt: receivedAt)
        switch try await store.storeBatch(incoming) {
        case let .stored(bytes):
            let receipt = try? WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes))
            metrics.batchAccepted(events: receipt?.acceptedEvents ?? batch.outcomes.count, replay: false)
            for refusal in receipt?.refusedEvents ?? [] { metrics.eventRefused(reason: refusal.reason) }
            return Self.receiptResponse(bytes, status: .accepted)
        case let .alreadyStored(bytes):
            metrics.batchAccepted(events: batch.outcomes.count, replay: true)
            return Self.receiptResponse(bytes, status: .ok)
        case .sequenceConflict:
            throw reject(.sequenceConflict, "sequence \(batch.sequence) of \(batch.deviceID) was stored with different content",
                         events: batch.outcomes.count)
        case let .duplicateEvent(eventID):
            throw reject(.duplicateEvent, "event \(eventID.uuidString.lowercased()) is already stored", events: batch.outcomes.count)
        case .nonceReplayed:
            throw reject(.nonceReplayed, "sign every request with a fresh nonce", events: batch.outcomes.count)
        }
    }

    static func receiptResponse(_ bytes: [UInt8], status: HTTPResponse.Status) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

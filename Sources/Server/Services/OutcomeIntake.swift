import FeedbackWire
import Foundation
import HTTPSignatures
import Storage
import StrictJSON

/// What storing a kiosk's upload answered: the receipt's bytes, and whether this upload
/// stored it (false for a retry of one stored before, which gets the same receipt).
struct UploadReceipt: Sendable {
    let bytes: [UInt8]
    let isNew: Bool
}

/// A kiosk's authenticated outcome batch: validated against the published schema, stored
/// whole or not at all, and counted in the metrics whichever way it ends.
struct OutcomeIntake: Sendable {
    let store: any FeedbackStore
    /// How far an event's time may lie after the server's clock.
    let maximumClockSkew: TimeInterval
    let metrics: ServerMetrics

    /// Counts a refusal and hands it back to be thrown.
    func rejected(_ problem: ProblemResponse, events: Int? = nil) -> ProblemResponse {
        metrics.batchRejected(problem.type, events: events)
        return problem
    }

    func accept(_ upload: SignedUploadAuthentication.Upload) async throws -> UploadReceipt {
        let (device, body, receivedAt) = (upload.device, upload.body, upload.receivedAt)
        let batch: OutcomeBatch
        switch OutcomeBatchValidator.shared.decode(body) {
        case let .success(decoded):
            batch = decoded
        case let .failure(.malformedJSON(error)):
            throw rejected(ProblemResponse(.malformedJSON, error.description))
        case let .failure(.schema(violations)):
            throw rejected(ProblemResponse(.schemaViolation, "\(violations.count) field(s) do not match outcome-batch.schema.json",
                                           errors: violations))
        }
        let events = batch.outcomes.count
        guard batch.deviceID == device.deviceID else {
            throw rejected(ProblemResponse(.deviceMismatch, "the batch names \(batch.deviceID) but was signed by \(device.deviceID)"),
                           events: events)
        }
        // Checked with the binding read when the request was authenticated, as revocation is.
        if let (pointer, site) = batch.firstSite(outside: device.sites) {
            let violation = JSONSchemaViolation(pointer: pointer, keyword: "enum",
                                                message: "\(site) is not a site \(device.deviceID) is enrolled for")
            throw rejected(KioskSites.mismatch(device, foreign: batch.sites.subtracting(device.sites), errors: [violation]), events: events)
        }
        let latest = receivedAt.addingTimeInterval(maximumClockSkew)
        if let (pointer, date) = batch.firstEvent(datedAfter: latest) {
            throw rejected(ProblemResponse(
                .timestampInFuture, "\(RFC3339.format(date)) is more than \(Int(maximumClockSkew)) s after the server's clock",
                errors: [JSONSchemaViolation(pointer: pointer, keyword: "maximum", message: "must not be later than \(RFC3339.format(latest))")]),
                events: events)
        }

        let incoming = IncomingBatch(batch: batch, body: body, contentDigest: upload.contentDigest,
                                     signatureInput: upload.signatureInput, signature: upload.signature,
                                     nonce: upload.nonce, receivedAt: receivedAt)
        switch try await store.storeBatch(incoming) {
        case let .stored(bytes):
            let receipt = try? WireJSON.decoder().decode(BatchReceipt.self, from: Data(bytes))
            metrics.batchAccepted(events: receipt?.acceptedEvents ?? events, replay: false)
            for refusal in receipt?.refusedEvents ?? [] { metrics.eventRefused(reason: refusal.reason) }
            return UploadReceipt(bytes: bytes, isNew: true)
        case let .alreadyStored(bytes):
            metrics.batchAccepted(events: events, replay: true)
            return UploadReceipt(bytes: bytes, isNew: false)
        case .sequenceConflict:
            throw rejected(ProblemResponse(.sequenceConflict, "sequence \(batch.sequence) of \(batch.deviceID) was stored with different content"),
                           events: events)
        case let .duplicateEvent(eventID):
            throw rejected(ProblemResponse(.duplicateEvent, "event \(eventID.uuidString.lowercased()) is already stored"), events: events)
        case .nonceReplayed:
            throw rejected(ProblemResponse(.nonceReplayed, "sign every request with a fresh nonce"), events: events)
        }
    }
}

import AsyncHTTPClient
import Crypto
import FeedbackWire
import Foundation
import HTTPSignatures
import Logging

/// Sends one sealed batch until it is acknowledged, set aside as unacceptable, or the
/// upload must stop (the device is not allowed, or the server stays unreachable).
struct BatchUploader: Sendable {
    let client: HTTPClient
    let serverURL: String
    let deviceID: String
    let signingKey: Curve25519.Signing.PrivateKey
    let retry: KioskAgent.RetryPolicy
    let logger: Logger

    enum Result: Equatable {
        case acknowledged
        case setAside
        case stop(String)
    }

    /// Refusals that no retry of the same bytes can fix: the batch is set aside.
    static let permanentForBatch = Set([
        ProblemType.schemaViolation, .malformedJSON, .bodyTooLarge, .sequenceConflict, .duplicateEvent, .deviceMismatch, .timestampInFuture,
    ].map(\.slug))
    /// Refusals about the device itself: nothing can be uploaded until an operator acts. A
    /// batch naming a site the kiosk is not enrolled for stays queued until an admin moves the
    /// kiosk (`faceloop devices move`), then goes out as it is.
    static let permanentForDevice = Set([
        ProblemType.unknownDevice, .deviceRevoked, .deviceCertificateExpired, .clientCertificateRequired, .clientCertificateMismatch,
        .unauthorized, .siteMismatch,
    ].map(\.slug))

    func send(_ batch: UploadQueue.SealedBatch, queue: UploadQueue, report: inout KioskAgent.UploadReport) async -> Result {
        var attempt = 0
        while true {
            attempt += 1
            let outcome = await attemptOnce(batch)
            switch outcome {
            case let .receipt(receipt, sentAt, receiptAt):
                guard receipt.deviceID == deviceID, receipt.sequence == batch.sequence,
                      receipt.contentDigest == ContentDigest.sha256Field(for: batch.body) else {
                    return .stop("receipt for sequence \(batch.sequence) does not match the batch sent")
                }
                do {
                    try queue.acknowledge(sequence: batch.sequence, receipt: receipt, at: Date())
                } catch {
                    return .stop("cannot update the queue: \(error)")
                }
                report.batchesAcknowledged += 1
                report.withdrawals += batch.withdrawals.map { withdrawal in
                    KioskAgent.DeliveredWithdrawal(eventID: withdrawal.eventID, sequence: batch.sequence, recordedAt: withdrawal.recordedAt,
                                                   sentAt: sentAt, receiptAt: receiptAt, attempts: attempt,
                                                   queueDelayMilliseconds: sentAt.timeIntervalSince(withdrawal.recordedAt) * 1000,
                                                   roundTripMilliseconds: receiptAt.timeIntervalSince(sentAt) * 1000)
                }
                report.outcomesAcknowledged += receipt.acceptedEvents
                report.eventsRefused += receipt.refusedEvents.count
                for refusal in receipt.refusedEvents {
                    logger.warning("event refused by the server", metadata: ["event": "\(refusal.eventID.uuidString.lowercased())",
                                                                            "reason": "\(refusal.reason)"])
                }
                return .acknowledged
            case let .refused(slug, message) where Self.permanentForBatch.contains(slug):
                logger.error("batch refused; set aside", metadata: ["sequence": "\(batch.sequence)", "problem": "\(slug)"])
                try? queue.setAside(sequence: batch.sequence, problem: "\(slug): \(message)", at: Date())
                report.batchesSetAside += 1
                return .setAside
            case let .refused(slug, message) where Self.permanentForDevice.contains(slug):
                try? queue.noteAttempt(sequence: batch.sequence, error: "\(slug): \(message)")
                return .stop("the server refused this device (\(slug)): \(message)")
            case let .refused(slug, message) where slug == ProblemType.signatureTimeOutOfRange.slug:
                try? queue.noteAttempt(sequence: batch.sequence, error: "\(slug): \(message)")
                return .stop("the kiosk's clock is off: \(message)")
            case let .refused(slug, message):
                try? queue.noteAttempt(sequence: batch.sequence, error: "\(slug): \(message)")
                if attempt >= retry.maximumAttempts { return .stop("gave up after \(attempt) attempts: \(slug): \(message)") }
            case let .transient(reason):
                try? queue.noteAttempt(sequence: batch.sequence, error: reason)
                if attempt >= retry.maximumAttempts { return .stop("gave up after \(attempt) attempts: \(reason)") }
            }
            report.retries += 1
            let delay = retry.delay(afterAttempt: attempt - 1)
            logger.info("retrying", metadata: ["sequence": "\(batch.sequence)", "attempt": "\(attempt)", "delay": "\(delay)"])
            try? await Task.sleep(for: delay)
        }
    }

    enum Attempt {
        /// With when the request was sent and when its receipt had arrived.
        case receipt(BatchReceipt, sentAt: Date, receiptAt: Date)
        case refused(String, String)
        case transient(String)
    }

    /// One signed POST; a fresh nonce and creation time every time, the same bytes always.
    func attemptOnce(_ batch: UploadQueue.SealedBatch) async -> Attempt {
        let headers: [String: String]
        do {
            headers = try UploadSignaturePolicy.signUpload(method: "POST", path: "/v1/outcomes", authority: "",
                                                           body: batch.body, keyID: deviceID, key: signingKey, now: Date())
        } catch {
            return .transient("cannot sign: \(error)")
        }
        do {
            let sentAt = Date()
            let (status, body) = try await ServerTLS.post(client: client, url: serverURL + "/v1/outcomes", headers: headers,
                                                          body: batch.body)
            let receiptAt = Date()
            switch status {
            case 200, 202:
                do {
                    return .receipt(try WireJSON.decoder().decode(BatchReceipt.self, from: Data(body)), sentAt: sentAt, receiptAt: receiptAt)
                } catch {
                    return .transient("unreadable receipt: \(error)")
                }
            case 429, 500...:
                return .transient("HTTP \(status)")
            default:
                if let problem = try? WireJSON.decoder().decode(ProblemDetails.self, from: Data(body)) {
                    return .refused(problem.slug, problem.detail ?? problem.title)
                }
                return .transient("HTTP \(status) without problem details")
            }
        } catch {
            return .transient("\(error)")
        }
    }
}

import Federation
import FederationAPI
import FeedbackWire
import Foundation
import HTTPSignatures
import Logging
import Storage
import StrictJSON

extension RoundService {
    /// A kiosk's authenticated update for the round named `roundText`: decoded, checked
    /// against the round's specification, stored once, and aggregated with the others as
    /// soon as the quorum is in.
    func receiveUpdate(_ upload: SignedUploadAuthentication.Upload, roundText: String, logger: Logger) async throws -> UploadReceipt {
        let device = upload.device
        let decoded: (upload: ModelUpdateUpload, update: ModelUpdate)
        do {
            decoded = try ModelUpdateUpload.decode(upload.body)
        } catch let .malformedJSON(reason) {
            throw ProblemResponse(.malformedJSON, reason)
        } catch let .schema(violations) {
            throw ProblemResponse(.schemaViolation, "\(violations.count) field(s) do not match model-update.schema.json",
                                  errors: violations)
        }
        guard decoded.upload.deviceID == device.deviceID else {
            throw ProblemResponse(.deviceMismatch, "the update names \(decoded.upload.deviceID) but was signed by \(device.deviceID)")
        }
        let round = try await round(roundText)
        let specification = try await check(decoded, from: device, against: round)

        let digest = upload.contentDigest
        let receipt = UpdateReceipt(roundID: round.id, deviceID: device.deviceID, contentDigest: digest,
                                    norm: decoded.update.norm, receivedAt: upload.receivedAt)
        let incoming = IncomingUpdate(roundID: round.id, deviceID: device.deviceID, body: upload.body, contentDigest: digest,
                                      signatureInput: upload.signatureInput, signature: upload.signature, nonce: upload.nonce,
                                      receivedAt: upload.receivedAt, receipt: [UInt8](try WireJSON.encoder().encode(receipt)))
        switch try await federation.storeUpdate(incoming) {
        case let .stored(bytes, count):
            if count >= specification.minimumClients {
                // The update is durable; aggregation is the round's business, and its failure
                // is logged and visible in the round's state, not the kiosk's problem.
                do {
                    try await closer.close(roundID: round.id, why: "quorum of \(count) updates")
                } catch {
                    logger.error("aggregation failed", metadata: ["round": "\(round.id)", "error": "\(error)"])
                }
            }
            return UploadReceipt(bytes: bytes, isNew: true)
        case let .alreadyStored(bytes):
            return UploadReceipt(bytes: bytes, isNew: false)
        case .conflict:
            throw ProblemResponse(.updateConflict, "\(device.deviceID) already sent a different update for round \(round.id)")
        case let .roundClosed(state):
            throw ProblemResponse(.roundClosed, "round \(round.id) is \(state.rawValue); updates are no longer accepted")
        case let .late(deadline):
            throw ProblemResponse(.updateLate, "round \(round.id)'s deadline was \(RFC3339.format(deadline)); the update is dropped")
        case .noSuchRound:
            throw ProblemResponse(.notFound, "no round \(round.id)")
        case .nonceReplayed:
            throw ProblemResponse(.nonceReplayed, "sign every request with a fresh nonce")
        }
    }

    /// The round's specification, if the update is for this round, from a selected kiosk,
    /// on the round's base, of the base's size and trained on enough pairs.
    private func check(_ decoded: (upload: ModelUpdateUpload, update: ModelUpdate), from device: DeviceRecord,
                       against round: StoredRound) async throws -> RoundSpecification {
        guard decoded.upload.roundID == round.id else {
            throw ProblemResponse(.invalidRequest, "the update is for round \(decoded.upload.roundID) but was sent to round \(round.id)")
        }
        let specification = try RoundRecords.specification(of: round)
        guard specification.selectedDevices.contains(device.deviceID) else {
            throw ProblemResponse(.notSelected, "\(device.deviceID) was not sampled into round \(round.id); wait for the next one")
        }
        guard decoded.upload.baseVersion == specification.baseVersion else {
            throw ProblemResponse(.staleBase, "round \(round.id) trains from model release \(specification.baseVersion), "
                                  + "the update from \(decoded.upload.baseVersion); pull the model and train again")
        }
        let expectedCount = try await RoundRecords.adapter(version: specification.baseVersion, store: federation).parameterCount
        guard decoded.update.values.count == expectedCount else {
            throw ProblemResponse(.schemaViolation, "the base adapter has \(expectedCount) parameters",
                                  errors: [JSONSchemaViolation(pointer: "/parameter_count", keyword: "const",
                                                               message: "must be \(expectedCount)")])
        }
        guard decoded.update.exampleCount >= settings.minimumPairs else {
            throw ProblemResponse(.tooFewPairs, "the update was trained on \(decoded.update.exampleCount) pairs; "
                                  + "this server accepts updates from at least \(settings.minimumPairs)")
        }
        return specification
    }
}

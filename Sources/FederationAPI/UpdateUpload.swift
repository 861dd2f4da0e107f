import Federation
import FeedbackWire
import Foundation
import StrictJSON

/// Kiosk → server: one clipped adapter update for one round (`POST /v1/federation/rounds/{id}/updates`),
/// JSON per `schemas/model-update.schema.json`, signed exactly like an outcome batch.
/// The values are `ModelUpdate.values` (W row-major, then b) as little-endian IEEE 754
/// float32, base64: 16,384 floats are 87 KB of text instead of about 200 KB as JSON numbers.
///
/// ```swift
/// let upload = try ModelUpdateUpload(deviceID: "kiosk-001", roundID: 4, baseVersion: 3, update: clipped)
/// let body = try upload.encoded()
/// ```
public struct ModelUpdateUpload: Sendable, Codable, Equatable {
    public static let protocolName = "faceloop.update.v1"
    /// The largest update accepted: a 128×128 adapter with a bias.
    public static let maximumParameterCount = 128 * 128 + 128

    public var protocolName: String
    public var deviceID: String
    public var roundID: Int
    public var baseVersion: Int
    /// Labelled pairs the kiosk trained on (the weight FedAvg-style strategies would use).
    public var exampleCount: Int
    public var parameterCount: Int
    public var values: String

    public init(deviceID: String, roundID: Int, baseVersion: Int, update: ModelUpdate) {
        protocolName = Self.protocolName
        self.deviceID = deviceID
        self.roundID = roundID
        self.baseVersion = baseVersion
        exampleCount = update.exampleCount
        parameterCount = update.values.count
        var bytes = [UInt8]()
        bytes.reserveCapacity(update.values.count * 4)
        for value in update.values {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        values = Data(bytes).base64EncodedString()
    }

    enum CodingKeys: String, CodingKey {
        case protocolName = "protocol", deviceID = "device_id", roundID = "round_id", baseVersion = "base_version"
        case exampleCount = "example_count", parameterCount = "parameter_count", values
    }

    public func encoded() throws -> [UInt8] {
        [UInt8](try WireJSON.encoder().encode(self))
    }

    public typealias Invalid = EmbeddedSchemaCheck.Invalid

    static let schema = EmbeddedSchemaCheck(root: "model-update.schema.json")

    /// Strict parsing, the published schema, then what a schema cannot say: the values are
    /// exactly `parameter_count` finite floats.
    public static func decode(_ body: [UInt8]) throws(Invalid) -> (upload: ModelUpdateUpload, update: ModelUpdate) {
        _ = try schema.check(body)
        let upload: ModelUpdateUpload
        do {
            upload = try WireJSON.decoder().decode(ModelUpdateUpload.self, from: Data(body))
        } catch {
            throw .schema([JSONSchemaViolation(pointer: "", keyword: "type", message: "\(error)")])
        }
        guard let bytes = Data(base64Encoded: upload.values), bytes.count == upload.parameterCount * 4 else {
            throw .schema([JSONSchemaViolation(pointer: "/values", keyword: "contentEncoding",
                                               message: "must be base64 of exactly parameter_count little-endian float32 values")])
        }
        var floats = [Float](repeating: 0, count: upload.parameterCount)
        bytes.withUnsafeBytes { raw in
            for index in floats.indices {
                floats[index] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: index * 4, as: UInt32.self)))
            }
        }
        guard floats.allSatisfy(\.isFinite) else {
            throw .schema([JSONSchemaViolation(pointer: "/values", keyword: "contentEncoding", message: "every value must be finite")])
        }
        return (upload, ModelUpdate(values: floats, exampleCount: upload.exampleCount))
    }
}

/// Server → kiosk: the update is stored (202) or was stored before with the same bytes (200).
public struct UpdateReceipt: Sendable, Codable, Equatable {
    public var protocolName = "faceloop.update-receipt.v1"
    public var roundID: Int
    public var deviceID: String
    public var contentDigest: String
    /// L2 norm of the update as received; above the round's C it will be left out.
    public var norm: Double
    public var receivedAt: Date

    public init(roundID: Int, deviceID: String, contentDigest: String, norm: Double, receivedAt: Date) {
        self.roundID = roundID
        self.deviceID = deviceID
        self.contentDigest = contentDigest
        self.norm = norm
        self.receivedAt = receivedAt
    }

    enum CodingKeys: String, CodingKey {
        case protocolName = "protocol", roundID = "round_id", deviceID = "device_id", contentDigest = "content_digest", norm
        case receivedAt = "received_at"
    }
}

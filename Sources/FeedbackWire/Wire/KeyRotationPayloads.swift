import Foundation

/// `POST /v1/admin/key-rotations`: which of the server's keys to rotate.
public struct KeyRotationRequest: Sendable, Codable, Equatable {
    /// `device-ca`, `tls-certificate`, `release-signing` or `audit-signing`.
    public var key: String

    public init(key: String) {
        self.key = key
    }
}

/// The answer to a rotation: the new generation and the one it replaced.
public struct KeyRotationResult: Sendable, Codable, Equatable {
    public var key: String
    public var generation: Int
    /// Ed25519 keys: the release key id; certificates: the SHA-256 fingerprint.
    public var keyID: String
    public var previousKeyID: String
    public var activatedAt: Date

    public init(key: String, generation: Int, keyID: String, previousKeyID: String, activatedAt: Date) {
        self.key = key
        self.generation = generation
        self.keyID = keyID
        self.previousKeyID = previousKeyID
        self.activatedAt = activatedAt
    }

    enum CodingKeys: String, CodingKey {
        case key, generation, keyID = "key_id", previousKeyID = "previous_key_id", activatedAt = "activated_at"
    }
}

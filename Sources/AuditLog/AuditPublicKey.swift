import Crypto
import Foundation

/// Reads the log's Ed25519 public key in the forms an officer is likely to be handed:
///
/// - PEM: `-----BEGIN PUBLIC KEY-----` around the base64 of the 44-byte SubjectPublicKeyInfo
///   (what `openssl pkey -pubout` writes for an Ed25519 key);
/// - 64 hex digits of the raw 32-byte key;
/// - base64 of the raw 32-byte key (the server's `*.pub` files) or of the SubjectPublicKeyInfo;
/// - the raw 32 bytes, or the 44 bytes of DER SubjectPublicKeyInfo, as a binary file.
///
/// Surrounding whitespace is ignored.
public enum AuditPublicKey {
    /// DER of SEQUENCE { SEQUENCE { OID 1.3.101.112 (Ed25519) }, BIT STRING (32 bytes) } up to the key.
    static let spkiPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

    public static func parse(_ bytes: [UInt8]) throws(AuditPublicKeyError) -> Curve25519.Signing.PublicKey {
        if let text = String(validating: bytes, as: UTF8.self)?.trimmingCharacters(in: .whitespacesAndNewlines),
           let key = fromText(text) {
            return try make(key)
        }
        if let key = fromDER(bytes) { return try make(key) }
        throw .unrecognized
    }

    /// The key as PEM SubjectPublicKeyInfo, the form `faceloop audit verify --public-key` documents.
    public static func pem(_ key: Curve25519.Signing.PublicKey) -> String {
        let body = Data(spkiPrefix + [UInt8](key.rawRepresentation)).base64EncodedString()
        return "-----BEGIN PUBLIC KEY-----\n\(body)\n-----END PUBLIC KEY-----\n"
    }

    private static func fromText(_ text: String) -> [UInt8]? {
        let header = "-----BEGIN PUBLIC KEY-----"
        let footer = "-----END PUBLIC KEY-----"
        if text.hasPrefix(header) {
            guard text.hasSuffix(footer) else { return nil }
            let body = text.dropFirst(header.count).dropLast(footer.count).filter { !$0.isWhitespace }
            return StrictBase64.decode(String(body)).flatMap(fromDER)
        }
        if let hash = MerkleHash(hex: text) { return hash.bytes }
        if let decoded = StrictBase64.decode(text) { return fromDER(decoded) }
        return nil
    }

    private static func fromDER(_ bytes: [UInt8]) -> [UInt8]? {
        if bytes.count == 32 { return bytes }
        if bytes.count == spkiPrefix.count + 32, Array(bytes.prefix(spkiPrefix.count)) == spkiPrefix {
            return Array(bytes.dropFirst(spkiPrefix.count))
        }
        return nil
    }

    private static func make(_ raw: [UInt8]) throws(AuditPublicKeyError) -> Curve25519.Signing.PublicKey {
        do {
            return try Curve25519.Signing.PublicKey(rawRepresentation: raw)
        } catch {
            throw .notAnEd25519Key
        }
    }
}

/// Why a public key file could not be used.
public enum AuditPublicKeyError: Error, Sendable, Equatable, CustomStringConvertible {
    case unrecognized
    case notAnEd25519Key

    public var description: String {
        switch self {
        case .unrecognized:
            return "the public key is not in a recognised form: give a PEM \"BEGIN PUBLIC KEY\" Ed25519 key or 64 hex digits"
        case .notAnEd25519Key:
            return "the public key is not a valid Ed25519 key"
        }
    }
}

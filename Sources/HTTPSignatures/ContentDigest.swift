import Crypto
import Foundation

/// RFC 9530 `Content-Digest` for request bodies.
public enum ContentDigest {
    public enum Check: Sendable, Equatable {
        case matches
        case missing
        case unsupportedAlgorithm
        case mismatch
        case malformed
    }

    /// `sha-256=:<base64>:` for the body.
    public static func sha256Field(for body: some DataProtocol) -> String {
        "sha-256=:" + Data(SHA256.hash(data: body)).base64EncodedString() + ":"
    }

    /// Checks every digest in the field that uses an algorithm we implement (sha-256,
    /// sha-512); at least one must be present and all of them must match.
    public static func check(field: String?, body: some DataProtocol) -> Check {
        guard let field, !field.isEmpty else { return .missing }
        let members: [(key: String, value: StructuredField.Member)]
        do {
            members = try StructuredField.parseDictionary(field)
        } catch {
            return .malformed
        }
        var checked = 0
        for (algorithm, member) in members {
            guard case let .item(item) = member, case let .bytes(expected) = item.value else { return .malformed }
            let actual: [UInt8]
            switch algorithm {
            case "sha-256": actual = Array(SHA256.hash(data: body))
            case "sha-512": actual = Array(SHA512.hash(data: body))
            default: continue
            }
            guard actual == expected else { return .mismatch }
            checked += 1
        }
        return checked > 0 ? .matches : .unsupportedAlgorithm
    }
}

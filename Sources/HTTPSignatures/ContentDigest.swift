import Crypto
import Foundation
import RawStructuredFieldValues

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
        sha256Field(digest: Array(SHA256.hash(data: body)))
    }

    /// `sha-256=:<base64>:` for a body whose SHA-256 is `digest`.
    static func sha256Field(digest: [UInt8]) -> String {
        let digest = Item(bareItem: StructuredFields.byteSequence(digest), parameters: [:])
        do {
            return try StructuredFields.serialize(dictionary: ["sha-256": .item(digest)])
        } catch {
            fatalError("a sha-256 key with a base64 byte sequence is a valid dictionary: \(error)")
        }
    }

    /// Checks every digest in the field that uses an algorithm we implement (sha-256,
    /// sha-512); at least one must be present and all of them must match.
    public static func check(field: String?, body: some DataProtocol) -> Check {
        checkGivingSHA256Field(field: field, body: body).check
    }

    /// `check`, and the body's `sha256Field` when the field's sha-256 digest was computed and
    /// matched, so that the body is not hashed a second time for it.
    public static func checkGivingSHA256Field(field: String?, body: some DataProtocol) -> (check: Check, sha256Field: String?) {
        guard let field, !field.isEmpty else { return (.missing, nil) }
        let members: OrderedMap<String, ItemOrInnerList>
        do {
            members = try StructuredFields.parseDictionary(field)
        } catch {
            return (.malformed, nil)
        }
        var checked = 0
        var sha256: [UInt8]?
        for (algorithm, member) in members {
            guard case let .item(item) = member, let expected = StructuredFields.decodedBytes(item.rfc9651BareItem) else { return (.malformed, nil) }
            let actual: [UInt8]
            switch algorithm {
            case "sha-256":
                actual = Array(SHA256.hash(data: body))
                sha256 = actual
            case "sha-512": actual = Array(SHA512.hash(data: body))
            default: continue
            }
            guard actual == expected else { return (.mismatch, nil) }
            checked += 1
        }
        guard checked > 0 else { return (.unsupportedAlgorithm, nil) }
        return (.matches, sha256.map { sha256Field(digest: $0) })
    }
}

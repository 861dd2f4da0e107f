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
        let digest = Item(bareItem: StructuredFields.byteSequence(SHA256.hash(data: body)), parameters: [:])
        do {
            return try StructuredFields.serialize(dictionary: ["sha-256": .item(digest)])
        } catch {
            fatalError("a sha-256 key with a base64 byte sequence is a valid dictionary: \(error)")
        }
    }

    /// Checks every digest in the field that uses an algorithm we implement (sha-256,
    /// sha-512); at least one must be present and all of them must match.
    public static func check(field: String?, body: some DataProtocol) -> Check {
        guard let field, !field.isEmpty else { return .missing }
        let members: OrderedMap<String, ItemOrInnerList>
        do {
            members = try StructuredFields.parseDictionary(field)
        } catch {
            return .malformed
        }
        var checked = 0
        for (algorithm, member) in members {
            guard case let .item(item) = member, let expected = StructuredFields.decodedBytes(item.rfc9651BareItem) else { return .malformed }
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

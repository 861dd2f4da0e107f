import Crypto
import Foundation

/// Turns a subject id into the only name FaceLoop ever stores: HMAC-SHA256 under the
/// jurisdiction's key, as 64 lowercase hex digits. Without the key a pseudonym cannot be
/// linked back to a person, and the same person has unrelated pseudonyms in two jurisdictions.
///
/// ```swift
/// let pseudonym = Pseudonymizer(key: jurisdictionKey).pseudonym(for: " Anna.Berg@example.org ")
/// ```
public struct Pseudonymizer: Sendable {
    private let key: SymmetricKey

    public init(key: [UInt8]) {
        self.key = SymmetricKey(data: key)
    }

    /// Compatibility-composed (NFKC), trimmed and case-folded, so that the same id typed on
    /// two kiosks, or pasted by a compliance officer, gives the same pseudonym.
    public static func normalise(_ subjectID: String) -> String {
        subjectID.precomposedStringWithCompatibilityMapping
            .trimmingCharacters(in: .whitespacesAndNewlines)
            .lowercased()
    }

    public func pseudonym(for subjectID: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(Self.normalise(subjectID).utf8), using: key)
        return mac.map { String(format: "%02x", $0) }.joined()
    }

    /// A fresh 256-bit key for a new jurisdiction.
    public static func generateKey() -> [UInt8] {
        SymmetricKey(size: .bits256).withUnsafeBytes { [UInt8]($0) }
    }
}

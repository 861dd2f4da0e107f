import Crypto
import Foundation
import HTTPSignatures

/// What the server demands of a signed upload before it looks at the payload: RFC 9421
/// covering at least `@method`, `@path` and `content-digest`, with `created`, `nonce` and
/// `keyid`, algorithm Ed25519, a creation time within the allowed skew, and a body that
/// matches its RFC 9530 digest. Pure: the caller supplies the clock and the key.
///
/// ```swift
/// let checked = try policy.precheck(request: parts, body: body, now: .now)   // keyid, nonce
/// try policy.verify(checked, request: parts, publicKey: key)
/// ```
public struct UploadSignaturePolicy: Sendable {
    public static let requiredComponents = ["@method", "@path", "content-digest"]
    public static let algorithm = "ed25519"

    public var maximumClockSkew: TimeInterval

    public init(maximumClockSkew: TimeInterval = 300) {
        self.maximumClockSkew = maximumClockSkew
    }

    public struct Rejection: Error, Sendable, CustomStringConvertible {
        public let problem: ProblemType
        public let detail: String
        public var description: String { "\(problem.slug): \(detail)" }
    }

    /// A signature whose shape, time and digest passed; its key is still to be checked.
    public struct PendingSignature: Sendable {
        public let signature: MessageSignature
        public let keyID: String
        public let nonce: String
        public let created: Date
        /// `ContentDigest.sha256Field` of the body, when Content-Digest carried sha-256 (it was
        /// computed to check it).
        public let bodySHA256Field: String?
    }

    public func precheck(request: SignedRequestParts, body: [UInt8], now: Date) throws(Rejection) -> PendingSignature {
        let signatures: [MessageSignature]
        do {
            signatures = try MessageSignature.parse(signatureInput: request.headers["signature-input"],
                                                    signature: request.headers["signature"])
        } catch .missingHeaders {
            throw Rejection(problem: .signatureMissing, detail: "send Signature-Input and Signature (RFC 9421)")
        } catch {
            throw Rejection(problem: .signatureInvalid, detail: error.description)
        }
        guard signatures.count == 1, let signature = signatures.first else {
            throw Rejection(problem: .signatureInvalid, detail: "exactly one signature is expected, found \(signatures.count)")
        }
        for component in UploadSignaturePolicy.requiredComponents where !signature.components.contains(component) {
            throw Rejection(problem: .signatureInvalid, detail: "the signature must cover \(component)")
        }
        let params = signature.parameters
        guard let created = params.created else {
            throw Rejection(problem: .signatureInvalid, detail: "the signature must carry a created parameter")
        }
        guard let nonce = params.nonce, (16...128).contains(nonce.utf8.count) else {
            throw Rejection(problem: .signatureInvalid, detail: "the signature must carry a nonce of 16 to 128 characters")
        }
        guard let keyID = params.keyID, !keyID.isEmpty else {
            throw Rejection(problem: .signatureInvalid, detail: "the signature must carry a keyid")
        }
        if let algorithm = params.algorithm, algorithm != UploadSignaturePolicy.algorithm {
            throw Rejection(problem: .signatureInvalid, detail: "algorithm \(algorithm) is not accepted; use ed25519")
        }
        let createdDate = Date(timeIntervalSince1970: TimeInterval(created))
        let skew = createdDate.timeIntervalSince(now)
        guard abs(skew) <= maximumClockSkew else {
            throw Rejection(problem: .signatureTimeOutOfRange,
                            detail: "created is \(Int(skew)) s from the server's clock; at most ±\(Int(maximumClockSkew)) s is accepted")
        }
        if let expires = params.expires, TimeInterval(expires) < now.timeIntervalSince1970 {
            throw Rejection(problem: .signatureTimeOutOfRange, detail: "the signature expired")
        }
        let (digestCheck, bodySHA256Field) = ContentDigest.checkGivingSHA256Field(field: request.headers["content-digest"], body: body)
        switch digestCheck {
        case .matches: break
        case .mismatch:
            throw Rejection(problem: .contentDigestMismatch, detail: "the body's digest differs from Content-Digest")
        case .missing, .malformed, .unsupportedAlgorithm:
            throw Rejection(problem: .contentDigestMissing, detail: "send Content-Digest with sha-256 (RFC 9530)")
        }
        return PendingSignature(signature: signature, keyID: keyID, nonce: nonce, created: createdDate, bodySHA256Field: bodySHA256Field)
    }

    public func verify(_ pending: PendingSignature, request: SignedRequestParts,
                       publicKey: Curve25519.Signing.PublicKey) throws(Rejection) {
        guard pending.signature.isValid(for: request, publicKey: publicKey) else {
            throw Rejection(problem: .signatureInvalid, detail: "the Ed25519 signature does not verify with the device's key")
        }
    }

    /// What an agent sends: the covered components, with the content type, in a fixed order.
    public static func signUpload(method: String, path: String, authority: String, body: [UInt8], keyID: String,
                                  key: Curve25519.Signing.PrivateKey, now: Date,
                                  nonce: String = UploadSignaturePolicy.makeNonce()) throws -> [String: String] {
        var headers = [
            "content-type": "application/json",
            "content-digest": ContentDigest.sha256Field(for: body),
        ]
        let parts = SignedRequestParts(method: method, path: path, authority: authority, headers: headers)
        let params = SignatureParameters(created: Int64(now.timeIntervalSince1970), nonce: nonce, keyID: keyID,
                                         algorithm: algorithm)
        let signed = try MessageSignature.sign(request: parts, components: ["@method", "@path", "content-type", "content-digest"],
                                               parameters: params, key: key)
        headers["signature-input"] = signed.signatureInput
        headers["signature"] = signed.signature
        return headers
    }

    /// 128 random bits, base64url without padding.
    public static func makeNonce() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}

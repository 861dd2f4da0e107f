import Crypto
import FeedbackWire
import Foundation
@testable import HTTPSignatures
import Testing

/// The bytes an agent sends and the server reads back, pinned: a change in how the structured
/// fields are written (parameter order, quoting, byte sequences) fails here.
@Suite("Signature-Input, Signature and Content-Digest serialisations are the committed vectors")
struct WireVectorTests {
    /// From scripts/fixtures/upload_signature_vector.py, which builds the RFC 9421 base by hand
    /// and signs it with Python's `cryptography`.
    static let uploadContentDigest = "sha-256=:2fkAl9KrNCOi9bN9xcM815sGsAmS0Cti1UE2Z3AH2Ec=:"
    static let uploadSignatureInput = #"sig1=("@method" "@path" "content-type" "content-digest");created=1790000000;nonce="AAAAAAAAAAAAAAAAAAAAAA";keyid="kiosk-001";alg="ed25519""#
    static let uploadSignature = "sig1=:fjmrD5bjIvWWdfvqvLhhDoz9MnBEMn7jcobJNPRGuU8TUxYLbAjQjvyLIfvS9fxovVYn/wYyGXdJ8Vz/DzwaAw==:"

    @Test("an agent's upload carries exactly the committed Content-Digest, Signature-Input and Signature")
    func uploadVector() throws {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: Data(repeating: 7, count: 32))
        let headers = try UploadSignaturePolicy.signUpload(
            method: "POST", path: "/v1/outcomes", authority: "127.0.0.1:8443", body: Array(#"{"protocol":"faceloop.outcomes.v1"}"#.utf8),
            keyID: "kiosk-001", key: key, now: Date(timeIntervalSince1970: 1_790_000_000), nonce: "AAAAAAAAAAAAAAAAAAAAAA")
        #expect(headers["content-digest"] == Self.uploadContentDigest)
        #expect(headers["signature-input"] == Self.uploadSignatureInput)
        #expect(headers["signature"] == Self.uploadSignature)
    }

    @Test("received fields written back are byte-identical: the RFC's B.2.6 pair and the upload vector")
    func roundTrip() throws {
        let pairs = [(MessageSignatureTests.b26SignatureInput, MessageSignatureTests.b26Signature),
                     (Self.uploadSignatureInput, Self.uploadSignature)]
        for (signatureInput, signature) in pairs {
            let parsed = try MessageSignature.parse(signatureInput: signatureInput, signature: signature)
            #expect(parsed.count == 1)
            let written = try #require(parsed.first).fieldValues()
            #expect(written.signatureInput == signatureInput)
            #expect(written.signature == signature)
        }
    }

    @Test("the base is rebuilt with the sender's parameter order, unknown parameters included")
    func senderParameterOrder() throws {
        let signatureInput = #"sig1=("@method");keyid="k";x-extra=?0;created=5"#
        let parsed = try MessageSignature.parse(signatureInput: signatureInput, signature: "sig1=:AAAA:")
        let signature = try #require(parsed.first)
        #expect(try signature.fieldValues().signatureInput == signatureInput)
        let base = try MessageSignature.signatureBase(components: signature.components, parameters: signature.rawParameters,
                                                      request: SignedRequestParts(method: "GET", path: "/", authority: "h", headers: [:]))
        #expect(base == #""@method": GET"# + "\n" + #""@signature-params": ("@method");keyid="k";x-extra=?0;created=5"#)
    }

    @Test("malformed Signature-Input, Signature and Content-Digest fields are refused with the same problem types")
    func malformedFields() throws {
        let key = Curve25519.Signing.PrivateKey()
        let body = Array(#"{"a":1}"#.utf8)
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let good = try UploadSignaturePolicy.signUpload(method: "POST", path: "/v1/outcomes", authority: "h", body: body,
                                                        keyID: "k", key: key, now: now)
        func rejection(_ field: String, _ value: String) -> UploadSignaturePolicy.Rejection? {
            var headers = good
            headers[field] = value
            let request = SignedRequestParts(method: "POST", path: "/v1/outcomes", authority: "h", headers: headers)
            do {
                _ = try UploadSignaturePolicy().precheck(request: request, body: body, now: now)
                return nil
            } catch {
                return error
            }
        }
        let malformedInputs = [
            (#"sig1=("@method" "@path""#, "Signature-Input is not an RFC 8941 dictionary"),
            (#"sig1=("@method");keyid="k"#, "Signature-Input is not an RFC 8941 dictionary"),
            (#"sig1=("@method"), "#, "Signature-Input is not an RFC 8941 dictionary"),
            (#"sig1="@method""#, "sig1 is not an inner list"),
            (#"sig1=(method "@path" "content-digest")"#, "component identifiers must be plain strings"),
            (#"sig1=("@method";req "@path" "content-digest")"#, "component identifiers must be plain strings"),
        ]
        for (value, reason) in malformedInputs {
            let refusal = rejection("signature-input", value)
            #expect(refusal?.problem == .signatureInvalid, "\(value)")
            #expect(refusal?.detail.contains(reason) == true, "\(value): \(refusal?.detail ?? "accepted")")
        }
        let malformedSignatures = [
            ("sig1=:%%%:", "Signature is not an RFC 8941 dictionary"),
            ("sig1=:AAA:", "the Signature value for label sig1 is not a base64 byte sequence"),
            ("sig1=\"AAAA\"", "the Signature value for label sig1 is not a base64 byte sequence"),
            ("sig2=:AAAA:", "no Signature value for label sig1"),
        ]
        for (value, reason) in malformedSignatures {
            let refusal = rejection("signature", value)
            #expect(refusal?.problem == .signatureInvalid, "\(value)")
            #expect(refusal?.detail.contains(reason) == true, "\(value): \(refusal?.detail ?? "accepted")")
        }
        for value in ["sha-256=:abc", "sha-256=:not base64!:", "sha-256=:AAA:", #"sha-256="text""#, "sha-256=(:AAAA:)", "sha-256=:AAAA:,"] {
            #expect(rejection("content-digest", value)?.problem == .contentDigestMissing, "\(value)")
        }
        #expect(rejection("content-digest", "sha-256=:AAAA:")?.problem == .contentDigestMismatch)
    }
}

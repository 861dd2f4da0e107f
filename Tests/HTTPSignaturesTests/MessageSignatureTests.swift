import Crypto
import Foundation
import FeedbackWire
@testable import HTTPSignatures
import Testing

@Suite("RFC 9421 message signatures and RFC 9530 digests")
struct MessageSignatureTests {
    /// RFC 9421 appendix B.1.4, test-key-ed25519 (JWK "d" and "x", base64url).
    static let rfcPrivateKey = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU"
    static let rfcPublicKey = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"

    static func base64URL(_ text: String) -> Data {
        var s = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while s.count % 4 != 0 { s += "=" }
        return Data(base64Encoded: s) ?? Data()
    }

    /// RFC 9421 appendix B.2 test request.
    static let rfcRequest = SignedRequestParts(
        method: "POST", path: "/foo", authority: "example.com",
        headers: [
            "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
            "Content-Type": "application/json",
            "Content-Digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
            "Content-Length": "18",
        ])

    static let b26Components = ["date", "@method", "@path", "@authority", "content-type", "content-length"]
    static let b26SignatureInput = #"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#
    static let b26Signature = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"

    @Test("the signature base of appendix B.2.6 is reproduced byte for byte")
    func rfcSignatureBase() throws {
        let base = try MessageSignature.signatureBase(
            components: Self.b26Components,
            parameters: MessageSignature.parameterList(SignatureParameters(created: 1_618_884_473, keyID: "test-key-ed25519")),
            request: Self.rfcRequest)
        #expect(base == """
        "date": Tue, 20 Apr 2021 02:07:55 GMT
        "@method": POST
        "@path": /foo
        "@authority": example.com
        "content-type": application/json
        "content-length": 18
        "@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"
        """)
    }

    @Test("signing appendix B.2.6 with the RFC's key gives the RFC's signature (Ed25519 is deterministic)")
    func rfcSignatureValue() throws {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: Self.base64URL(Self.rfcPrivateKey))
        #expect(key.publicKey.rawRepresentation == Self.base64URL(Self.rfcPublicKey))
        let signed = try MessageSignature.sign(
            request: Self.rfcRequest, components: Self.b26Components,
            parameters: SignatureParameters(created: 1_618_884_473, keyID: "test-key-ed25519"), label: "sig-b26", key: key)
        #expect(signed.signatureInput == Self.b26SignatureInput)
        #expect(signed.signature == Self.b26Signature)
    }

    @Test("the RFC's signature verifies with the RFC's public key, and fails on any change")
    func rfcVerification() throws {
        let publicKey = try Curve25519.Signing.PublicKey(rawRepresentation: Self.base64URL(Self.rfcPublicKey))
        let parsed = try MessageSignature.parse(signatureInput: Self.b26SignatureInput, signature: Self.b26Signature)
        #expect(parsed.count == 1)
        #expect(parsed[0].label == "sig-b26")
        #expect(parsed[0].parameters.created == 1_618_884_473)
        #expect(parsed[0].isValid(for: Self.rfcRequest, publicKey: publicKey))
        var altered = Self.rfcRequest
        altered.path = "/bar"
        #expect(!parsed[0].isValid(for: altered, publicKey: publicKey))
        let otherKey = Curve25519.Signing.PrivateKey().publicKey
        #expect(!parsed[0].isValid(for: Self.rfcRequest, publicKey: otherKey))
    }

    @Test("RFC 9530 digests: sha-256 and sha-512 of the RFC's example body")
    func contentDigest() {
        let body = Array(#"{"hello": "world"}"#.utf8)
        #expect(ContentDigest.sha256Field(for: body) == "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:")
        #expect(ContentDigest.check(field: Self.rfcRequest.headers["content-digest"], body: body) == .matches)
        #expect(ContentDigest.check(field: Self.rfcRequest.headers["content-digest"], body: Array(#"{"hello": "World"}"#.utf8)) == .mismatch)
        #expect(ContentDigest.check(field: nil, body: body) == .missing)
        #expect(ContentDigest.check(field: "md5=:AAAA:", body: body) == .unsupportedAlgorithm)
        #expect(ContentDigest.check(field: "sha-256=:not base64!:", body: body) == .malformed)
    }

    @Test("the sha-256 field computed to check a digest is handed on only when sha-256 was sent and matched")
    func sha256FieldFromTheCheck() {
        let body = Array(#"{"hello": "world"}"#.utf8)
        let sha256 = ContentDigest.sha256Field(for: body)
        let sha512 = Self.rfcRequest.headers["content-digest"] ?? ""
        #expect(ContentDigest.checkGivingSHA256Field(field: sha256, body: body) == (.matches, sha256))
        #expect(ContentDigest.checkGivingSHA256Field(field: sha512 + ", " + sha256, body: body) == (.matches, sha256))
        #expect(ContentDigest.checkGivingSHA256Field(field: sha512, body: body) == (.matches, nil))
        #expect(ContentDigest.checkGivingSHA256Field(field: sha256, body: Array("{}".utf8)) == (.mismatch, nil))
        #expect(ContentDigest.checkGivingSHA256Field(field: sha256 + ", sha-512=:AAAA:", body: body) == (.mismatch, nil))
    }

    /// Our own vector: fixed key, nonce and time give a fixed upload signature, so a change in
    /// the covered components or their order is caught.
    @Test("our own upload vector is stable")
    func ownVector() throws {
        let key = try Curve25519.Signing.PrivateKey(rawRepresentation: Data(repeating: 7, count: 32))
        let body = Array(#"{"protocol":"faceloop.outcomes.v1"}"#.utf8)
        let headers = try UploadSignaturePolicy.signUpload(
            method: "POST", path: "/v1/outcomes", authority: "127.0.0.1:8443", body: body, keyID: "kiosk-001", key: key,
            now: Date(timeIntervalSince1970: 1_790_000_000), nonce: "AAAAAAAAAAAAAAAAAAAAAA")
        #expect(headers["signature-input"] == #"sig1=("@method" "@path" "content-type" "content-digest");created=1790000000;nonce="AAAAAAAAAAAAAAAAAAAAAA";keyid="kiosk-001";alg="ed25519""#)
        let parts = SignedRequestParts(method: "POST", path: "/v1/outcomes", authority: "127.0.0.1:8443", headers: headers)
        let policy = UploadSignaturePolicy()
        let pending = try policy.precheck(request: parts, body: body, now: Date(timeIntervalSince1970: 1_790_000_100))
        #expect(pending.keyID == "kiosk-001")
        try policy.verify(pending, request: parts, publicKey: key.publicKey)
        // Ed25519 is deterministic, so the signature itself is a regression vector.
        let again = try UploadSignaturePolicy.signUpload(
            method: "POST", path: "/v1/outcomes", authority: "127.0.0.1:8443", body: body, keyID: "kiosk-001", key: key,
            now: Date(timeIntervalSince1970: 1_790_000_000), nonce: "AAAAAAAAAAAAAAAAAAAAAA")
        #expect(again["signature"] == headers["signature"])
    }

    @Test("the upload policy refuses each defect with its own problem type")
    func policyRejections() throws {
        let key = Curve25519.Signing.PrivateKey()
        let body = Array(#"{"a":1}"#.utf8)
        let now = Date(timeIntervalSince1970: 1_790_000_000)
        let policy = UploadSignaturePolicy()
        func parts(_ headers: [String: String]) -> SignedRequestParts {
            SignedRequestParts(method: "POST", path: "/v1/outcomes", authority: "h", headers: headers)
        }
        func rejection(_ request: SignedRequestParts, body: [UInt8], at time: Date = now) -> ProblemType? {
            do {
                let pending = try policy.precheck(request: request, body: body, now: time)
                try policy.verify(pending, request: request, publicKey: key.publicKey)
                return nil
            } catch {
                return error.problem
            }
        }
        let good = try UploadSignaturePolicy.signUpload(method: "POST", path: "/v1/outcomes", authority: "h", body: body,
                                                        keyID: "k", key: key, now: now)
        #expect(rejection(parts(good), body: body) == nil)
        #expect(rejection(parts([:]), body: body) == .signatureMissing)
        #expect(rejection(parts(good), body: Array(#"{"a":2}"#.utf8)) == .contentDigestMismatch)
        #expect(rejection(parts(good), body: body, at: now.addingTimeInterval(301)) == .signatureTimeOutOfRange)
        #expect(rejection(parts(good), body: body, at: now.addingTimeInterval(-301)) == .signatureTimeOutOfRange)
        #expect(rejection(parts(good), body: body, at: now.addingTimeInterval(299)) == nil)
        var forged = good
        forged["signature"] = "sig1=:" + Data(repeating: 1, count: 64).base64EncodedString() + ":"
        #expect(rejection(parts(forged), body: body) == .signatureInvalid)
        var noDigestCoverage = good
        noDigestCoverage["signature-input"] = good["signature-input"]?.replacingOccurrences(of: #" "content-digest""#, with: "")
        #expect(rejection(parts(noDigestCoverage), body: body) == .signatureInvalid)
        var otherPath = parts(good)
        otherPath.path = "/v1/other"
        #expect(rejection(otherPath, body: body) == .signatureInvalid)
    }
}

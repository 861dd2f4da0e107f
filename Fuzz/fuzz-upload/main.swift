import Crypto
import FeedbackWire
import Foundation
import FuzzDriver
import HTTPSignatures

// The server's first contact with untrusted bytes: the signature fields, the digest and the
// batch body. The first byte picks the surface; the rest is the input.
let key = try Curve25519.Signing.PrivateKey(rawRepresentation: Data(repeating: 3, count: 32))
let policy = UploadSignaturePolicy()
let now = Date(timeIntervalSince1970: 1_790_000_000)

FuzzDriver.run { input in
    guard let selector = input.first else { return }
    let rest = Array(input.dropFirst())
    let text = String(decoding: rest, as: UTF8.self)
    switch selector % 4 {
    case 0:
        // What the one-pass reader accepts, the general way accepts as the same batch.
        let general = OutcomeBatchValidator.shared.decodeBySchema(rest)
        if let direct = OutcomeBatchValidator.readDirectly(rest) {
            guard case let .success(batch) = general, batch == direct else {
                fatalError("the one-pass reader accepted what the general way answers \(general)")
            }
        }
    case 1:
        _ = ContentDigest.check(field: text, body: rest)
    case 2:
        // Attacker-chosen signature fields over a fixed body.
        let body = Array(#"{"protocol":"faceloop.outcomes.v1"}"#.utf8)
        let halves = text.split(separator: "\n", maxSplits: 1).map(String.init)
        let parts = SignedRequestParts(method: "POST", path: "/v1/outcomes", authority: "h", headers: [
            "signature-input": halves.first ?? "", "signature": halves.count > 1 ? halves[1] : "",
            "content-digest": ContentDigest.sha256Field(for: body),
        ])
        if let pending = try? policy.precheck(request: parts, body: body, now: now) {
            try? policy.verify(pending, request: parts, publicKey: key.publicKey)
        }
    default:
        // A correctly signed request whose body is the input: signature checks pass, then the decoder runs.
        guard let headers = try? UploadSignaturePolicy.signUpload(method: "POST", path: "/v1/outcomes", authority: "h",
                                                                  body: rest, keyID: "kiosk-1", key: key, now: now,
                                                                  nonce: "AAAAAAAAAAAAAAAAAAAAAA") else { return }
        let parts = SignedRequestParts(method: "POST", path: "/v1/outcomes", authority: "h", headers: headers)
        if let pending = try? policy.precheck(request: parts, body: rest, now: now),
           (try? policy.verify(pending, request: parts, publicKey: key.publicKey)) != nil {
            _ = OutcomeBatchValidator.shared.decode(rest)
        }
    }
}

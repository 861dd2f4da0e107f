import StrictJSON
/// Every kind of refusal the API can give, each with its own RFC 9457 problem type, so a
/// kiosk or an operator can tell them apart without parsing prose. The type URI is relative
/// (`/problems/<slug>`) and the server serves a description there.
public struct ProblemType: Sendable, Hashable, CustomStringConvertible {
    public let slug: String
    public let status: Int
    public let title: String

    public var uri: String { "/problems/" + slug }
    public var description: String { slug }

    init(_ slug: String, _ status: Int, _ title: String) {
        self.slug = slug
        self.status = status
        self.title = title
    }

    public static let malformedJSON = ProblemType("malformed-json", 400, "The body is not valid JSON")
    public static let schemaViolation = ProblemType("schema-violation", 422, "The body does not match the schema")
    public static let bodyTooLarge = ProblemType("body-too-large", 413, "The body is larger than the configured limit")
    public static let unsupportedMediaType = ProblemType("unsupported-media-type", 415, "The body must be application/json")
    public static let contentDigestMissing = ProblemType("content-digest-missing", 400, "Content-Digest is missing, malformed or uses no supported algorithm")
    public static let contentDigestMismatch = ProblemType("content-digest-mismatch", 400, "The body does not match its Content-Digest")
    public static let signatureMissing = ProblemType("signature-missing", 401, "The request carries no HTTP message signature")
    public static let signatureInvalid = ProblemType("signature-invalid", 401, "The HTTP message signature is invalid")
    public static let signatureTimeOutOfRange = ProblemType("signature-time-out-of-range", 401, "The signature's creation time is too far from the server's clock")
    public static let nonceReplayed = ProblemType("nonce-replayed", 401, "The signature's nonce was already used")
    public static let unknownDevice = ProblemType("unknown-device", 401, "The signing key belongs to no enrolled device")
    public static let deviceRevoked = ProblemType("device-revoked", 403, "The device has been revoked")
    public static let deviceMismatch = ProblemType("device-mismatch", 403, "The batch names a different device than the one that signed it")
    public static let siteMismatch = ProblemType("site-mismatch", 403, "The kiosk is not enrolled for the site it names")
    public static let clientCertificateRequired = ProblemType("client-certificate-required", 401, "This endpoint requires a device client certificate")
    public static let deviceCertificateExpired = ProblemType("device-certificate-expired", 401, "The client certificate is expired or not yet valid")
    public static let clientCertificateMismatch = ProblemType("client-certificate-mismatch", 403, "The client certificate belongs to a different device than the signing key")
    public static let sequenceConflict = ProblemType("sequence-conflict", 409, "The sequence number was already used with different content")
    public static let duplicateEvent = ProblemType("duplicate-event", 409, "An outcome in the batch was already stored from another batch")
    public static let timestampInFuture = ProblemType("timestamp-in-future", 422, "An event is dated later than the server's clock allows")
    public static let unauthorized = ProblemType("unauthorized", 401, "A valid bearer token is required")
    public static let forbidden = ProblemType("forbidden", 403, "The token's role does not allow this")
    public static let selfApproval = ProblemType("self-approval", 403, "The token that computed a release may not approve it")
    public static let releaseStateConflict = ProblemType("release-state-conflict", 409, "The release is not in a state that allows this")
    public static let promotionRefused = ProblemType("promotion-refused", 409, "No cohort's paired comparison allows the candidate model to be promoted")
    public static let approvalRepeated = ProblemType("approval-repeated", 409, "This token has already approved this step")
    public static let insufficientData = ProblemType("insufficient-data", 422, "There is not enough data for this computation")
    public static let enrollmentTokenInvalid = ProblemType("enrollment-token-invalid", 403, "The enrollment token is unknown, used or expired")
    public static let csrInvalid = ProblemType("csr-invalid", 422, "The certificate signing request is invalid")
    public static let deviceExists = ProblemType("device-exists", 409, "A device with this id is already enrolled")
    public static let roundOpen = ProblemType("round-open", 409, "Another federated round is still open")
    public static let roundClosed = ProblemType("round-closed", 409, "The federated round is closed")
    public static let updateLate = ProblemType("update-late", 409, "The update arrived after the round's deadline")
    public static let updateConflict = ProblemType("update-conflict", 409, "This device already sent a different update for the round")
    public static let notSelected = ProblemType("not-selected", 403, "The device was not sampled into this round")
    public static let staleBase = ProblemType("stale-base", 409, "The update was trained from a different model release than the round's base")
    public static let tooFewPairs = ProblemType("too-few-pairs", 422, "The update was trained on fewer labelled pairs than the server accepts")
    public static let privacyBudgetExhausted = ProblemType("privacy-budget-exhausted", 409, "Opening the round would exceed the privacy budget")
    public static let keyRotationConflict = ProblemType("key-rotation-conflict", 409,
                                                        "Another rotation of this key came first, or this node's key files are behind the store")
    public static let invalidRequest = ProblemType("invalid-request", 400, "The request is invalid")
    public static let notFound = ProblemType("not-found", 404, "No such resource")
    public static let methodNotAllowed = ProblemType("method-not-allowed", 405, "The method is not allowed on this resource")
    public static let internalError = ProblemType("internal-error", 500, "The server failed to handle the request")
    public static let unavailable = ProblemType("unavailable", 503, "The server is not ready")

    public static let all: [ProblemType] = [
        .malformedJSON, .schemaViolation, .bodyTooLarge, .unsupportedMediaType, .contentDigestMissing,
        .contentDigestMismatch, .signatureMissing, .signatureInvalid, .signatureTimeOutOfRange, .nonceReplayed,
        .unknownDevice, .deviceRevoked, .deviceMismatch, .siteMismatch, .clientCertificateRequired, .deviceCertificateExpired, .clientCertificateMismatch,
        .sequenceConflict, .duplicateEvent, .timestampInFuture, .unauthorized, .forbidden, .selfApproval, .releaseStateConflict, .insufficientData,
        .promotionRefused, .approvalRepeated,
        .enrollmentTokenInvalid, .csrInvalid, .deviceExists,
        .roundOpen, .roundClosed, .updateLate, .updateConflict, .notSelected, .staleBase, .tooFewPairs, .privacyBudgetExhausted,
        .keyRotationConflict, .invalidRequest, .notFound, .methodNotAllowed, .internalError, .unavailable,
    ]
}

/// An RFC 9457 problem details object. `errors` lists schema violations with JSON pointers.
public struct ProblemDetails: Error, Sendable, Codable, Equatable, CustomStringConvertible {
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String?
    public var instance: String?
    public var errors: [JSONSchemaViolation]?

    public init(_ problemType: ProblemType, detail: String? = nil, instance: String? = nil,
                errors: [JSONSchemaViolation]? = nil) {
        type = problemType.uri
        title = problemType.title
        status = problemType.status
        self.detail = detail
        self.instance = instance
        self.errors = errors
    }

    public var slug: String { type.split(separator: "/").last.map(String.init) ?? type }

    public var description: String {
        var text = "\(title) (\(slug), HTTP \(status))"
        if let detail { text += ": \(detail)" }
        for violation in errors ?? [] { text += "\n  \(violation)" }
        return text
    }
}

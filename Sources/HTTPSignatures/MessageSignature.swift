import Crypto
import Foundation

/// The parts of an HTTP request that RFC 9421 signatures can cover.
public struct SignedRequestParts: Sendable {
    public var method: String
    /// The path without the query, as in `@path`.
    public var path: String
    public var authority: String
    /// Header values by lowercased field name.
    public var headers: [String: String]

    public init(method: String, path: String, authority: String, headers: [String: String]) {
        self.method = method
        self.path = path
        self.authority = authority
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { $1 })
    }
}

/// Signature metadata in the order it is serialised into `@signature-params`.
public struct SignatureParameters: Sendable, Equatable {
    public var created: Int64?
    public var expires: Int64?
    public var nonce: String?
    public var keyID: String?
    public var algorithm: String?
    public var tag: String?

    public init(created: Int64? = nil, expires: Int64? = nil, nonce: String? = nil, keyID: String? = nil,
                algorithm: String? = nil, tag: String? = nil) {
        self.created = created
        self.expires = expires
        self.nonce = nonce
        self.keyID = keyID
        self.algorithm = algorithm
        self.tag = tag
    }
}

/// An HTTP message signature as it appears in one `Signature-Input` / `Signature` pair.
public struct MessageSignature: Sendable {
    public var label: String
    public var components: [String]
    /// The parameters exactly as received, so the base is rebuilt with the sender's order.
    public var rawParameters: StructuredField.Parameters
    public var signature: [UInt8]

    public var parameters: SignatureParameters {
        var p = SignatureParameters()
        for (key, value) in rawParameters {
            switch (key, value) {
            case let ("created", .integer(v)): p.created = v
            case let ("expires", .integer(v)): p.expires = v
            case let ("nonce", .string(v)): p.nonce = v
            case let ("keyid", .string(v)): p.keyID = v
            case let ("alg", .string(v)): p.algorithm = v
            case let ("tag", .string(v)): p.tag = v
            default: break
            }
        }
        return p
    }

    public enum SignatureError: Error, Sendable, Equatable, CustomStringConvertible {
        case missingHeaders
        case malformed(String)
        case missingComponent(String)

        public var description: String {
            switch self {
            case .missingHeaders: return "the request has no Signature-Input and Signature fields"
            case let .malformed(reason): return "the signature fields are malformed: \(reason)"
            case let .missingComponent(name): return "the signed request has no value for the covered component \(name)"
            }
        }
    }

    /// Serialises parameters in the given order, as in `@signature-params`.
    public static func parameterList(_ p: SignatureParameters) -> StructuredField.Parameters {
        var list: StructuredField.Parameters = []
        if let v = p.created { list.append(("created", .integer(v))) }
        if let v = p.expires { list.append(("expires", .integer(v))) }
        if let v = p.nonce { list.append(("nonce", .string(v))) }
        if let v = p.keyID { list.append(("keyid", .string(v))) }
        if let v = p.algorithm { list.append(("alg", .string(v))) }
        if let v = p.tag { list.append(("tag", .string(v))) }
        return list
    }

    /// The RFC 9421 §2.5 signature base.
    public static func signatureBase(components: [String], parameters: StructuredField.Parameters,
                                     request: SignedRequestParts) throws(SignatureError) -> String {
        var lines: [String] = []
        lines.reserveCapacity(components.count + 1)
        for component in components {
            let value: String
            switch component {
            case "@method": value = request.method
            case "@path": value = request.path
            case "@authority": value = request.authority.lowercased()
            default:
                guard !component.hasPrefix("@"), let header = request.headers[component] else {
                    throw .missingComponent(component)
                }
                value = header.trimmingCharacters(in: .whitespaces)
            }
            lines.append("\"\(component)\": \(value)")
        }
        let items = components.map { StructuredField.Item(.string($0)) }
        lines.append("\"@signature-params\": " + StructuredField.serialize(innerList: items, parameters: parameters))
        return lines.joined(separator: "\n")
    }

    /// Signs a request with Ed25519 and returns the two header values.
    public static func sign(request: SignedRequestParts, components: [String], parameters: SignatureParameters,
                            label: String = "sig1",
                            key: Curve25519.Signing.PrivateKey) throws -> (signatureInput: String, signature: String) {
        let params = parameterList(parameters)
        let base = try signatureBase(components: components, parameters: params, request: request)
        let signature = try key.signature(for: Data(base.utf8))
        let items = components.map { StructuredField.Item(.string($0)) }
        return (label + "=" + StructuredField.serialize(innerList: items, parameters: params),
                label + "=:" + signature.base64EncodedString() + ":")
    }

    /// Reads every signature carried by the request's `Signature-Input` and `Signature` fields.
    public static func parse(signatureInput: String?, signature: String?) throws(SignatureError) -> [MessageSignature] {
        guard let signatureInput, let signature else { throw .missingHeaders }
        let inputs: [(key: String, value: StructuredField.Member)]
        let values: [(key: String, value: StructuredField.Member)]
        do {
            inputs = try StructuredField.parseDictionary(signatureInput)
            values = try StructuredField.parseDictionary(signature)
        } catch {
            throw .malformed(error.description)
        }
        var result: [MessageSignature] = []
        for (label, member) in inputs {
            guard case let .innerList(items, params) = member else { throw .malformed("\(label) is not an inner list") }
            var components: [String] = []
            for item in items {
                guard case let .string(name) = item.value, item.parameters.isEmpty else {
                    throw .malformed("component identifiers must be plain strings")
                }
                components.append(name)
            }
            guard let value = values.first(where: { $0.key == label })?.value,
                  case let .item(sigItem) = value, case let .bytes(bytes) = sigItem.value
            else { throw .malformed("no Signature value for label \(label)") }
            result.append(MessageSignature(label: label, components: components, rawParameters: params, signature: bytes))
        }
        guard !result.isEmpty else { throw .malformed("no signatures") }
        return result
    }

    /// Checks this signature over the request with an Ed25519 public key.
    public func isValid(for request: SignedRequestParts, publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let base = try? MessageSignature.signatureBase(components: components, parameters: rawParameters, request: request) else {
            return false
        }
        return publicKey.isValidSignature(signature, for: Data(base.utf8))
    }
}

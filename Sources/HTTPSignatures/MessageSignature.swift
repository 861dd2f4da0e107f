import Crypto
import Foundation
import RawStructuredFieldValues

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
    public var rawParameters: OrderedMap<String, RFC9651BareItem>
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

    /// The parameters in the order they are serialised into `@signature-params`.
    public static func parameterList(_ p: SignatureParameters) -> OrderedMap<String, RFC9651BareItem> {
        var list = OrderedMap<String, RFC9651BareItem>()
        if let v = p.created { list["created"] = .integer(v) }
        if let v = p.expires { list["expires"] = .integer(v) }
        if let v = p.nonce { list["nonce"] = .string(v) }
        if let v = p.keyID { list["keyid"] = .string(v) }
        if let v = p.algorithm { list["alg"] = .string(v) }
        if let v = p.tag { list["tag"] = .string(v) }
        return list
    }

    /// `("@method" "@path" …);created=…;keyid="…"`: the `Signature-Input` member and the value of
    /// the base's `@signature-params` line.
    static func coveredComponents(_ components: [String], parameters: OrderedMap<String, RFC9651BareItem>) -> InnerList {
        var items = BareInnerList()
        for component in components { items.append(Item(bareItem: RFC9651BareItem.string(component), parameters: [:])) }
        return InnerList(bareInnerList: items, parameters: parameters)
    }

    /// The RFC 9421 §2.5 signature base.
    public static func signatureBase(components: [String], parameters: OrderedMap<String, RFC9651BareItem>,
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
            lines.append(try serialized(identifier: component) + ": " + value)
        }
        let signatureParams: String
        do {
            signatureParams = try StructuredFields.serialize(innerList: coveredComponents(components, parameters: parameters))
        } catch {
            throw .malformed("the signature parameters cannot be written as structured fields (\(error))")
        }
        lines.append(try serialized(identifier: "@signature-params") + ": " + signatureParams)
        return lines.joined(separator: "\n")
    }

    /// A component identifier as the base names it: an RFC 8941 string.
    private static func serialized(identifier: String) throws(SignatureError) -> String {
        do {
            return try StructuredFields.serialize(item: Item(bareItem: RFC9651BareItem.string(identifier), parameters: [:]))
        } catch {
            throw .malformed("the component identifier \(identifier) is not a structured-field string")
        }
    }

    /// Signs a request with Ed25519 and returns the two header values.
    public static func sign(request: SignedRequestParts, components: [String], parameters: SignatureParameters,
                            label: String = "sig1",
                            key: Curve25519.Signing.PrivateKey) throws -> (signatureInput: String, signature: String) {
        let params = parameterList(parameters)
        let base = try signatureBase(components: components, parameters: params, request: request)
        let signatureBytes = try key.signature(for: Data(base.utf8))
        let signature = MessageSignature(label: label, components: components, rawParameters: params, signature: Array(signatureBytes))
        return try signature.fieldValues()
    }

    /// The `Signature-Input` and `Signature` field values that carry this signature alone.
    public func fieldValues() throws -> (signatureInput: String, signature: String) {
        let input: OrderedMap<String, ItemOrInnerList> = [label: .innerList(Self.coveredComponents(components, parameters: rawParameters))]
        let value: OrderedMap<String, ItemOrInnerList> = [label: .item(Item(bareItem: StructuredFields.byteSequence(signature), parameters: [:]))]
        return (try StructuredFields.serialize(dictionary: input), try StructuredFields.serialize(dictionary: value))
    }

    /// Reads every signature carried by the request's `Signature-Input` and `Signature` fields.
    public static func parse(signatureInput: String?, signature: String?) throws(SignatureError) -> [MessageSignature] {
        guard let signatureInput, let signature else { throw .missingHeaders }
        let inputs = try dictionary(signatureInput, field: "Signature-Input")
        let values = try dictionary(signature, field: "Signature")
        var result: [MessageSignature] = []
        for (label, member) in inputs {
            guard case let .innerList(list) = member else { throw .malformed("\(label) is not an inner list") }
            var components: [String] = []
            for item in list.bareInnerList {
                guard case let .string(name) = item.rfc9651BareItem, item.rfc9651Parameters.isEmpty else {
                    throw .malformed("component identifiers must be plain strings")
                }
                components.append(name)
            }
            guard case let .item(signatureItem)? = values[label] else { throw .malformed("no Signature value for label \(label)") }
            guard let bytes = StructuredFields.decodedBytes(signatureItem.rfc9651BareItem) else {
                throw .malformed("the Signature value for label \(label) is not a base64 byte sequence")
            }
            result.append(MessageSignature(label: label, components: components, rawParameters: list.rfc9651Parameters, signature: bytes))
        }
        guard !result.isEmpty else { throw .malformed("no signatures") }
        return result
    }

    private static func dictionary(_ fieldValue: String, field: String) throws(SignatureError) -> OrderedMap<String, ItemOrInnerList> {
        do {
            return try StructuredFields.parseDictionary(fieldValue)
        } catch {
            throw .malformed("\(field) is not an RFC 8941 dictionary (\(error))")
        }
    }

    /// Checks this signature over the request with an Ed25519 public key.
    public func isValid(for request: SignedRequestParts, publicKey: Curve25519.Signing.PublicKey) -> Bool {
        guard let base = try? MessageSignature.signatureBase(components: components, parameters: rawParameters, request: request) else {
            return false
        }
        return publicKey.isValidSignature(signature, for: Data(base.utf8))
    }
}

import FeedbackWire
import Foundation
import StrictJSON
import Testing
import Yams

/// Checks real responses against `schemas/openapi.yaml`: the status must be documented for
/// the operation, the media type must match, and the body must match the schema.
final class OpenAPIConformance: @unchecked Sendable {
    static let schemasDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("schemas")

    let documents: [String: JSONValue]
    let lock = NSLock()
    private(set) var checked: [String] = []

    init() throws {
        let yaml = try String(contentsOf: Self.schemasDirectory.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        guard let loaded = try Yams.load(yaml: yaml) else { throw ConformanceError("openapi.yaml is empty") }
        var documents = ["openapi.yaml": try Self.json(from: loaded)]
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.schemasDirectory.path).filter { $0.hasSuffix(".json") }
        for file in files {
            let data = try Data(contentsOf: Self.schemasDirectory.appendingPathComponent(file))
            documents[file] = try JSONValue.parse([UInt8](data))
        }
        self.documents = documents
    }

    struct ConformanceError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func json(from value: Any) throws -> JSONValue {
        switch value {
        case let b as Bool: return .bool(b)
        case let i as Int: return .number(Double(i))
        case let d as Double: return .number(d)
        case let s as String: return .string(s)
        case let a as [Any]: return .array(try a.map(json(from:)))
        case let m as [AnyHashable: Any]:
            return .object(try m.map { (key: String(describing: $0.key.base), value: try json(from: $0.value)) }
                .sorted { $0.key < $1.key })
        case is NSNull: return .null
        default: throw ConformanceError("unsupported YAML value \(value)")
        }
    }

    static func escape(_ token: String) -> String {
        token.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    /// Validates one response; `template` is the documented path, e.g. `/v1/admin/devices/{deviceID}/revoke`.
    func check(method: String, template: String, status: Int, contentType: String?, body: [UInt8]) throws {
        guard let spec = documents["openapi.yaml"] else { throw ConformanceError("no spec") }
        let operationPointer = "/paths/\(Self.escape(template))/\(method.lowercased())"
        guard JSONPointer.resolve(operationPointer, in: spec) != nil else {
            throw ConformanceError("\(method) \(template) is not documented")
        }
        var responsePointer = operationPointer + "/responses/\(status)"
        guard var response = JSONPointer.resolve(responsePointer, in: spec) else {
            throw ConformanceError("\(method) \(template) does not document status \(status)")
        }
        if let ref = response["$ref"]?.stringValue, ref.hasPrefix("#") {
            responsePointer = String(ref.dropFirst())
            guard let target = JSONPointer.resolve(responsePointer, in: spec) else { throw ConformanceError("bad $ref \(ref)") }
            response = target
        }
        let mediaType = (contentType ?? "").split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        guard response["content"]?[mediaType] != nil else {
            throw ConformanceError("\(method) \(template) \(status): media type \(mediaType) is not documented")
        }
        let schemaPointer = responsePointer + "/content/\(Self.escape(mediaType))/schema"
        let schema = try JSONSchema(documents: documents, root: "openapi.yaml#" + schemaPointer)
        let instance: JSONValue = mediaType.hasSuffix("json") ? try JSONValue.parse(body) : .string(String(decoding: body, as: UTF8.self))
        let violations = schema.validate(instance)
        guard violations.isEmpty else {
            throw ConformanceError("\(method) \(template) \(status) does not match the schema: \(violations)")
        }
        lock.withLock { checked.append("\(method) \(template) \(status)") }
    }
}

import FeedbackWire
import Foundation
import StrictJSON
import Testing

/// Walks every upload schema (what a kiosk can send) and proves that no field can hold an
/// image, a face descriptor or a raw subject id: every string is bounded to a short pattern, an
/// enum, a UUID or a time; every array is bounded; no object takes unknown members; and no
/// member is named for biometric data or raw identifiers. The one numeric payload, a model
/// update's `values`, is sized to exactly one adapter delta.
@Suite("Upload schemas and personal data")
struct UploadSchemaPrivacyTests {
    static let uploadSchemas = ["outcome-batch.schema.json", "model-update.schema.json", "certificate-renewal.schema.json"]
    /// A certificate request is longer than any other field, but the server accepts one that
    /// names nothing but the device and holds no attributes (`CertificateAuthority`), so its
    /// only free bytes are a P-256 key and its signature; the schema caps it near its real size.
    static let longestCertificateRequest = 1024
    /// The longest string any uploaded field may hold (a 128-value descriptor as text is
    /// well over a thousand characters; a JPEG is kilobytes).
    static let longestString = 128
    static let forbiddenNames = ["image", "photo", "picture", "jpeg", "png", "embedding", "descriptor", "template", "biometric",
                                 "subject_id", "raw", "name", "email", "birth", "document_number"]

    struct Finding: CustomStringConvertible {
        var location: String
        var problem: String
        var description: String { "\(location): \(problem)" }
    }

    /// The longest string an anchored pattern made of literals and bracket classes with
    /// bounded repeats can match, or nil when it is not of that form (then it is not bounded).
    static func longestMatch(_ pattern: String) -> Int? {
        var characters = Array(pattern)
        guard characters.first == "^", characters.last == "$" else { return nil }
        characters = Array(characters.dropFirst().dropLast())
        var total = 0
        var index = 0
        while index < characters.count {
            // One atom: a bracket class, an escaped character or a literal.
            if characters[index] == "[" {
                guard let close = characters[(index + 1)...].firstIndex(of: "]") else { return nil }
                index = close + 1
            } else if characters[index] == "\\" {
                index += 2
            } else if "()|.*+?{".contains(characters[index]) {
                return nil
            } else {
                index += 1
            }
            // Its repeat: none, {n} or {m,n}; unbounded repeats are not allowed.
            var repeats = 1
            if index < characters.count, characters[index] == "{" {
                guard let close = characters[index...].firstIndex(of: "}") else { return nil }
                let bounds = String(characters[(index + 1)..<close]).split(separator: ",", omittingEmptySubsequences: false)
                guard let upper = bounds.last.flatMap({ Int($0) }) else { return nil }
                repeats = upper
                index = close + 1
            }
            if index < characters.count, "*+?".contains(characters[index]) { return nil }
            total += repeats
        }
        return total
    }

    static func walk(_ schema: JSONValue, at location: String, in document: JSONValue, findings: inout [Finding], depth: Int = 0) {
        guard depth < 32 else { return }
        if let reference = schema["$ref"]?.stringValue {
            guard reference.hasPrefix("#/") else {
                findings.append(.init(location: location, problem: "refers outside its document (\(reference))"))
                return
            }
            var target: JSONValue? = document
            for part in reference.dropFirst(2).split(separator: "/") { target = target?[String(part)] }
            guard let target else { findings.append(.init(location: location, problem: "dangling $ref \(reference)")); return }
            walk(target, at: location, in: document, findings: &findings, depth: depth + 1)
            return
        }
        if schema["contentEncoding"] != nil || schema["contentMediaType"] != nil {
            if location != "model-update.schema.json/values" {
                findings.append(.init(location: location, problem: "carries encoded binary content"))
            }
        }
        // Applicators can only narrow a node that has a type of its own (every branch must
        // hold as well); without one, the branches are what define it.
        if schema["type"] == nil {
            for keyword in ["anyOf", "oneOf", "allOf"] {
                for (index, branch) in (schema[keyword]?.arrayValue ?? []).enumerated() {
                    walk(branch, at: location + "/\(keyword)[\(index)]", in: document, findings: &findings, depth: depth + 1)
                }
            }
            if schema["anyOf"] != nil || schema["oneOf"] != nil || schema["allOf"] != nil { return }
        }
        if schema["enum"] != nil || schema["const"] != nil { return }
        switch schema["type"]?.stringValue {
        case "string":
            if ["uuid", "date-time"].contains(schema["format"]?.stringValue ?? "") { return }
            if location == "certificate-renewal.schema.json/csr" {
                if (schema["maxLength"]?.numberValue ?? .infinity) > Double(longestCertificateRequest) {
                    findings.append(.init(location: location, problem: "may hold more than a certificate request"))
                }
                return
            }
            if location == "model-update.schema.json/values" {
                // Exactly one adapter delta: 16,512 float32 values (128 × 128 and a bias), base64.
                if schema["maxLength"]?.numberValue != Double((16_512 * 4 + 2) / 3 * 4) {
                    findings.append(.init(location: location, problem: "is not sized to one adapter delta"))
                }
                return
            }
            guard let pattern = schema["pattern"]?.stringValue, let longest = longestMatch(pattern) else {
                findings.append(.init(location: location, problem: "is a string without a bounded pattern"))
                return
            }
            if longest > longestString { findings.append(.init(location: location, problem: "may hold \(longest) characters")) }
        case "array":
            guard let maxItems = schema["maxItems"]?.numberValue else {
                findings.append(.init(location: location, problem: "is an array without maxItems"))
                return
            }
            if let items = schema["items"] {
                var resolved = items
                if let reference = items["$ref"]?.stringValue, reference.hasPrefix("#/") {
                    var target: JSONValue? = document
                    for part in reference.dropFirst(2).split(separator: "/") { target = target?[String(part)] }
                    resolved = target ?? items
                }
                if ["number", "integer"].contains(resolved["type"]?.stringValue ?? ""), maxItems >= 128 {
                    findings.append(.init(location: location, problem: "could hold a 128-value descriptor"))
                }
                walk(items, at: location + "[]", in: document, findings: &findings, depth: depth + 1)
            }
        case "object":
            if schema["additionalProperties"]?.boolValue != false {
                findings.append(.init(location: location, problem: "accepts members it does not name"))
            }
            for (name, member) in schema["properties"]?.objectValue ?? [] {
                let lowered = name.lowercased()
                if let word = forbiddenNames.first(where: { lowered.contains($0) }) {
                    findings.append(.init(location: location + "/" + name, problem: "is named for \(word)"))
                }
                walk(member, at: location + "/" + name, in: document, findings: &findings, depth: depth + 1)
            }
        case "number", "integer", "boolean":
            return
        default:
            findings.append(.init(location: location, problem: "has no type that bounds it"))
        }
    }

    @Test("upload schemas cannot carry an image, a descriptor or a raw subject id", arguments: uploadSchemas)
    func walkUploadSchema(name: String) throws {
        let text = try #require(OutcomeBatchValidator.schemaDocuments[name], "\(name) is not embedded")
        let document = try JSONValue.parse(Array(text.utf8))
        var findings: [Finding] = []
        Self.walk(document, at: name, in: document, findings: &findings)
        #expect(findings.isEmpty, "\(findings.map(\.description).joined(separator: "; "))")
    }

    @Test("the walk itself catches what it must: an unbounded string, a descriptor-sized array, an open object, a raw id field")
    func walkerCatches() throws {
        let bad = try JSONValue.parse(Array("""
            {"type": "object", "properties": {
              "note": {"type": "string"},
              "long": {"type": "string", "pattern": "^[a-z]{1,4096}$"},
              "vector": {"type": "array", "maxItems": 128, "items": {"type": "number"}},
              "subject_id": {"type": "string", "pattern": "^[a-z]{1,8}$"},
              "extra": {"type": "object"},
              "blob": {"type": "string", "contentEncoding": "base64", "pattern": "^[a-z]{1,8}$"}
            }}
            """.utf8))
        var findings: [Finding] = []
        Self.walk(bad, at: "bad", in: bad, findings: &findings)
        let locations = Set(findings.map(\.location))
        for expected in ["bad", "bad/note", "bad/long", "bad/vector", "bad/subject_id", "bad/extra", "bad/blob"] {
            #expect(locations.contains(expected), "\(expected) not flagged: \(findings)")
        }
        #expect(Self.longestMatch("^[0-9a-f]{64}$") == 64)
        #expect(Self.longestMatch("^[a-z0-9][a-z0-9-]{2,62}$") == 63)
        #expect(Self.longestMatch("^.*$") == nil)
    }
}

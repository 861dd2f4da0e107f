import Foundation

/// One place where an instance breaks its schema: the RFC 6901 pointer into the instance,
/// the keyword that failed and a sentence for the person who sent it.
public struct JSONSchemaViolation: Sendable, Equatable, Codable, CustomStringConvertible {
    public let pointer: String
    public let keyword: String
    public let message: String

    public init(pointer: String, keyword: String, message: String) {
        self.pointer = pointer
        self.keyword = keyword
        self.message = message
    }

    public var description: String { "\(pointer.isEmpty ? "/" : pointer): \(message)" }
}

/// A schema document that this validator cannot apply, e.g. a keyword it does not implement.
/// Raised when the schema is loaded, never while validating data.
public struct JSONSchemaDefinitionError: Error, Sendable, CustomStringConvertible {
    public let location: String
    public let reason: String
    public var description: String { "schema \(location): \(reason)" }
}

/// The JSON Schema 2020-12 vocabulary that FaceLoop's schemas use, compiled once and then
/// applied to many instances. Documents are registered by file name so that `$ref` can
/// point across files (`outcome.schema.json#/$defs/Cohort`) the way the files in
/// `schemas/` do.
///
/// ```swift
/// let schema = try JSONSchema(documents: ["batch.json": batchSchema], root: "batch.json")
/// let problems = schema.validate(try JSONValue.parse(body))
/// ```
public struct JSONSchema: Sendable {
    let node: SchemaNode

    public init(documents: [String: JSONValue], root: String) throws(JSONSchemaDefinitionError) {
        var compiler = SchemaCompiler(documents: documents)
        node = try compiler.compile(reference: root, from: root)
    }

    /// Every violation, in document order; empty when the instance conforms.
    public func validate(_ instance: JSONValue, stopAfter limit: Int = 50) -> [JSONSchemaViolation] {
        var violations: [JSONSchemaViolation] = []
        var path = InstancePath()
        node.validate(instance, at: &path, into: &violations, limit: limit)
        return violations
    }
}

/// Where the validator is in the instance, as tokens: the JSON pointer is spelled only when a
/// violation is reported, not for every member of every valid instance (which was most of
/// the validator's time on uploads).
struct InstancePath {
    enum Token {
        case key(String)
        case index(Int)
    }

    private var tokens: [Token] = []

    mutating func push(_ token: Token) { tokens.append(token) }
    mutating func pop() { tokens.removeLast() }

    var pointer: String { Self.spell(tokens[...]) }

    func pointer(appending token: Token) -> String { Self.spell(tokens[...] + [token]) }

    private static func spell(_ tokens: ArraySlice<Token>) -> String {
        tokens.reduce(into: "") { pointer, token in
            switch token {
            case let .key(key): pointer = JSONPointer.appending(pointer, key)
            case let .index(index): pointer = JSONPointer.appending(pointer, index)
            }
        }
    }
}

// MARK: - Compiled form

final class SchemaNode: @unchecked Sendable {
    // Immutable once the compiler has filled it in; @unchecked because NSRegularExpression
    // is not declared Sendable on every platform, though it is thread-safe for matching.
    // Nothing writes a node while it validates, so the runtime's check that no access to a
    // property overlaps a write (a thread-local look-up at every read of a class's `var`) is
    // turned off: with the required members found in one pass (`validateObject`), the walk
    // over an upload takes about a fifth less time.
    @exclusivity(unchecked) var isFalse = false
    @exclusivity(unchecked) var types: [String]?
    @exclusivity(unchecked) var properties: [(String, SchemaNode)] = [] {
        didSet { indexMembers() }
    }
    @exclusivity(unchecked) var required: [String] = [] {
        didSet { indexMembers() }
    }
    /// What the schema says of a member name: its schema (`properties`), and its bit in
    /// `requiredBits` if it is one of the first 64 `required` names.
    struct Member {
        var schema: SchemaNode?
        var requiredBit: UInt64 = 0
    }
    /// One bit for each `required` name; nil when there are more than 64.
    @exclusivity(unchecked) private(set) var requiredBits: UInt64? = 0
    @exclusivity(unchecked) private(set) var members: [String: Member] = [:]
    @exclusivity(unchecked) var additionalProperties: SchemaNode?
    @exclusivity(unchecked) var items: SchemaNode?
    @exclusivity(unchecked) var minItems: Int?
    @exclusivity(unchecked) var maxItems: Int?
    @exclusivity(unchecked) var uniqueItems = false
    @exclusivity(unchecked) var enumValues: [JSONValue]?
    @exclusivity(unchecked) var constValue: JSONValue?
    @exclusivity(unchecked) var minimum: Double?
    @exclusivity(unchecked) var maximum: Double?
    @exclusivity(unchecked) var exclusiveMinimum: Double?
    @exclusivity(unchecked) var exclusiveMaximum: Double?
    @exclusivity(unchecked) var minLength: Int?
    @exclusivity(unchecked) var maxLength: Int?
    @exclusivity(unchecked) var pattern: (source: String, regex: NSRegularExpression)?
    /// The same pattern without the engine, when it has the simple shape (`ASCIIPattern`).
    @exclusivity(unchecked) var asciiPattern: ASCIIPattern?
    @exclusivity(unchecked) var format: String?
    @exclusivity(unchecked) var minProperties: Int?
    @exclusivity(unchecked) var maxProperties: Int?
    @exclusivity(unchecked) var allOf: [SchemaNode] = []
    @exclusivity(unchecked) var anyOf: [SchemaNode] = []
    @exclusivity(unchecked) var oneOf: [SchemaNode] = []
    @exclusivity(unchecked) var not: SchemaNode?
    @exclusivity(unchecked) var ref: SchemaNode?

    func validate(_ value: JSONValue, at path: inout InstancePath, into out: inout [JSONSchemaViolation], limit: Int) {
        guard out.count < limit else { return }
        if isFalse {
            out.append(.init(pointer: path.pointer, keyword: "false", message: "is not allowed here"))
            return
        }
        ref?.validate(value, at: &path, into: &out, limit: limit)
        if let types, !types.contains(where: { SchemaNode.matches(value, type: $0) }) {
            out.append(.init(pointer: path.pointer, keyword: "type",
                             message: "must be \(types.joined(separator: " or ")), found \(value.typeName)"))
            return
        }
        if let enumValues, !enumValues.contains(value) {
            let allowed = enumValues.map { $0.serializedString }.joined(separator: ", ")
            out.append(.init(pointer: path.pointer, keyword: "enum", message: "must be one of \(allowed)"))
        }
        if let constValue, constValue != value {
            out.append(.init(pointer: path.pointer, keyword: "const", message: "must be \(constValue.serializedString)"))
        }
        switch value {
        case let .number(n): validateNumber(n, at: path, into: &out)
        case let .string(s): validateString(s, at: path, into: &out)
        case let .array(items): validateArray(items, at: &path, into: &out, limit: limit)
        case let .object(members): validateObject(members, at: &path, into: &out, limit: limit)
        default: break
        }
        for schema in allOf { schema.validate(value, at: &path, into: &out, limit: limit) }
        if !anyOf.isEmpty {
            let passes = anyOf.contains { schema in
                var scratch: [JSONSchemaViolation] = []
                schema.validate(value, at: &path, into: &scratch, limit: 1)
                return scratch.isEmpty
            }
            if !passes { out.append(.init(pointer: path.pointer, keyword: "anyOf", message: "matches none of the allowed forms")) }
        }
        if !oneOf.isEmpty {
            let passing = oneOf.filter { schema in
                var scratch: [JSONSchemaViolation] = []
                schema.validate(value, at: &path, into: &scratch, limit: 1)
                return scratch.isEmpty
            }.count
            if passing != 1 {
                out.append(.init(pointer: path.pointer, keyword: "oneOf",
                                 message: "must match exactly one allowed form, matches \(passing)"))
            }
        }
        if let not {
            var scratch: [JSONSchemaViolation] = []
            not.validate(value, at: &path, into: &scratch, limit: 1)
            if scratch.isEmpty { out.append(.init(pointer: path.pointer, keyword: "not", message: "matches a forbidden form")) }
        }
    }

    static func matches(_ value: JSONValue, type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
             ("number", .number):
            return true
        case let ("integer", .number(n)):
            return n.rounded() == n
        default:
            return false
        }
    }

    private func validateNumber(_ n: Double, at path: InstancePath, into out: inout [JSONSchemaViolation]) {
        if let minimum, n < minimum {
            out.append(.init(pointer: path.pointer, keyword: "minimum", message: "must be ≥ \(JSONValue.format(minimum))"))
        }
        if let maximum, n > maximum {
            out.append(.init(pointer: path.pointer, keyword: "maximum", message: "must be ≤ \(JSONValue.format(maximum))"))
        }
        if let exclusiveMinimum, n <= exclusiveMinimum {
            out.append(.init(pointer: path.pointer, keyword: "exclusiveMinimum", message: "must be > \(JSONValue.format(exclusiveMinimum))"))
        }
        if let exclusiveMaximum, n >= exclusiveMaximum {
            out.append(.init(pointer: path.pointer, keyword: "exclusiveMaximum", message: "must be < \(JSONValue.format(exclusiveMaximum))"))
        }
    }

    private func validateString(_ s: String, at path: InstancePath, into out: inout [JSONSchemaViolation]) {
        if minLength != nil || maxLength != nil {
            let length = s.unicodeScalars.count
            if let minLength, length < minLength {
                out.append(.init(pointer: path.pointer, keyword: "minLength", message: "must have at least \(minLength) characters"))
            }
            if let maxLength, length > maxLength {
                out.append(.init(pointer: path.pointer, keyword: "maxLength", message: "must have at most \(maxLength) characters"))
            }
        }
        if let pattern {
            let matched: Bool
            if let asciiPattern {
                matched = asciiPattern.matches(s)
            } else {
                matched = pattern.regex.firstMatch(in: s, options: [], range: NSRange(s.startIndex..<s.endIndex, in: s)) != nil
            }
            if !matched {
                out.append(.init(pointer: path.pointer, keyword: "pattern", message: "must match \(pattern.source)"))
            }
        }
        if let format, !FormatCheck.conforms(s, to: format) {
            out.append(.init(pointer: path.pointer, keyword: "format", message: "must be a valid \(format)"))
        }
    }

    private func validateArray(_ items: [JSONValue], at path: inout InstancePath, into out: inout [JSONSchemaViolation], limit: Int) {
        if let minItems, items.count < minItems {
            out.append(.init(pointer: path.pointer, keyword: "minItems", message: "must have at least \(minItems) items"))
        }
        if let maxItems, items.count > maxItems {
            out.append(.init(pointer: path.pointer, keyword: "maxItems", message: "must have at most \(maxItems) items"))
            return
        }
        if uniqueItems {
            for i in items.indices {
                if items[(i + 1)...].contains(items[i]) {
                    out.append(.init(pointer: path.pointer(appending: .index(i)), keyword: "uniqueItems", message: "is repeated"))
                    break
                }
            }
        }
        if let schema = self.items {
            for (index, item) in items.enumerated() {
                path.push(.index(index))
                schema.validate(item, at: &path, into: &out, limit: limit)
                path.pop()
                if out.count >= limit { return }
            }
        }
    }

    private func validateObject(_ members: [(key: String, value: JSONValue)], at path: inout InstancePath,
                                into out: inout [JSONSchemaViolation], limit: Int) {
        // Missing members are reported first, but found in the same pass as the members are
        // checked: a scan of the members for each required name compared about 120 strings
        // per outcome. When that pass sees every required name and stops for no violation,
        // its violations are the object's; otherwise the object is checked again in order.
        let start = out.count
        if let requiredBits, validateMembers(members, at: &path, into: &out, limit: limit) == requiredBits { return }
        out.removeSubrange(start...)
        for name in required where !members.contains(where: { $0.key == name }) {
            out.append(.init(pointer: path.pointer(appending: .key(name)), keyword: "required", message: "is required"))
        }
        _ = validateMembers(members, at: &path, into: &out, limit: limit)
    }

    /// The size limits and each member; the bits of the required members seen, nil when it
    /// stopped at `limit`.
    private func validateMembers(_ members: [(key: String, value: JSONValue)], at path: inout InstancePath,
                                 into out: inout [JSONSchemaViolation], limit: Int) -> UInt64? {
        if let minProperties, members.count < minProperties {
            out.append(.init(pointer: path.pointer, keyword: "minProperties", message: "must have at least \(minProperties) members"))
        }
        if let maxProperties, members.count > maxProperties {
            out.append(.init(pointer: path.pointer, keyword: "maxProperties", message: "must have at most \(maxProperties) members"))
        }
        var requiredSeen: UInt64 = 0
        for (key, value) in members {
            let member = self.members[key]
            requiredSeen |= member?.requiredBit ?? 0
            if let schema = member?.schema {
                path.push(.key(key))
                schema.validate(value, at: &path, into: &out, limit: limit)
                path.pop()
            } else if let additionalProperties {
                if additionalProperties.isFalse {
                    out.append(.init(pointer: path.pointer(appending: .key(key)), keyword: "additionalProperties",
                                     message: "is not a known property"))
                } else {
                    path.push(.key(key))
                    additionalProperties.validate(value, at: &path, into: &out, limit: limit)
                    path.pop()
                }
            }
            if out.count >= limit { return nil }
        }
        return requiredSeen
    }

    private func indexMembers() {
        var members: [String: Member] = [:]
        for (name, schema) in properties where members[name] == nil { members[name] = Member(schema: schema) }
        for (index, name) in required.prefix(64).enumerated() { members[name, default: Member()].requiredBit |= 1 << index }
        self.members = members
        requiredBits = required.count > 64 ? nil : required.isEmpty ? 0 : UInt64.max >> (64 - required.count)
    }
}

enum FormatCheck {
    static func conforms(_ text: String, to format: String) -> Bool {
        switch format {
        case "date-time": return RFC3339.parse(text) != nil
        case "uuid": return UUIDText.parse(text) != nil
        default: return true  // Other formats are annotations only (2020-12 default).
        }
    }
}

// MARK: - Compiler

private struct SchemaCompiler {
    let documents: [String: JSONValue]
    var compiled: [String: SchemaNode] = [:]
    var inProgress: Set<String> = []

    static let annotationKeywords: Set<String> = [
        "$schema", "$id", "$defs", "$comment", "title", "description", "examples", "example", "default",
        "deprecated", "readOnly", "writeOnly", "contentMediaType", "contentEncoding", "externalDocs",
    ]

    init(documents: [String: JSONValue]) { self.documents = documents }

    mutating func compile(reference: String, from currentDocument: String) throws(JSONSchemaDefinitionError) -> SchemaNode {
        let parts = reference.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
        let file = parts.first.map(String.init).flatMap { $0.isEmpty ? nil : $0 } ?? currentDocument
        let fileName = file.split(separator: "/").last.map(String.init) ?? file
        let pointer = parts.count > 1 ? String(parts[1]) : ""
        let key = fileName + "#" + pointer
        if let done = compiled[key] { return done }
        guard !inProgress.contains(key) else {
            throw JSONSchemaDefinitionError(location: key, reason: "recursive $ref is not supported")
        }
        guard let document = documents[fileName] else {
            throw JSONSchemaDefinitionError(location: key, reason: "unknown schema document \(fileName)")
        }
        guard let schema = JSONPointer.resolve(pointer, in: document) else {
            throw JSONSchemaDefinitionError(location: key, reason: "$ref target not found")
        }
        inProgress.insert(key)
        let node = try compile(schema: schema, document: fileName, location: key)
        inProgress.remove(key)
        compiled[key] = node
        return node
    }

    mutating func compile(schema: JSONValue, document: String, location: String) throws(JSONSchemaDefinitionError) -> SchemaNode {
        let node = SchemaNode()
        if case let .bool(b) = schema {
            node.isFalse = !b
            return node
        }
        guard case let .object(members) = schema else {
            throw JSONSchemaDefinitionError(location: location, reason: "a schema must be an object or a boolean")
        }
        func fail(_ reason: String) -> JSONSchemaDefinitionError { .init(location: location, reason: reason) }
        func integer(_ value: JSONValue) throws(JSONSchemaDefinitionError) -> Int {
            guard let n = value.numberValue, n.rounded() == n, n >= 0 else { throw fail("expected a non-negative integer") }
            return Int(n)
        }
        func number(_ value: JSONValue) throws(JSONSchemaDefinitionError) -> Double {
            guard let n = value.numberValue else { throw fail("expected a number") }
            return n
        }
        for (keyword, value) in members {
            let here = location + "/" + keyword
            switch keyword {
            case _ where SchemaCompiler.annotationKeywords.contains(keyword):
                continue
            case "$ref":
                guard let target = value.stringValue else { throw fail("$ref must be a string") }
                node.ref = try compile(reference: target, from: document)
            case "type":
                if let single = value.stringValue {
                    node.types = [single]
                } else if let list = value.arrayValue {
                    node.types = list.compactMap(\.stringValue)
                } else {
                    throw fail("type must be a string or an array")
                }
            case "properties":
                guard let props = value.objectValue else { throw fail("properties must be an object") }
                for (name, sub) in props {
                    node.properties.append((name, try compile(schema: sub, document: document, location: here + "/" + name)))
                }
            case "required":
                node.required = value.arrayValue?.compactMap(\.stringValue) ?? []
            case "additionalProperties":
                node.additionalProperties = try compile(schema: value, document: document, location: here)
            case "items":
                node.items = try compile(schema: value, document: document, location: here)
            case "minItems": node.minItems = try integer(value)
            case "maxItems": node.maxItems = try integer(value)
            case "uniqueItems": node.uniqueItems = value.boolValue ?? false
            case "enum":
                guard let list = value.arrayValue else { throw fail("enum must be an array") }
                node.enumValues = list
            case "const": node.constValue = value
            case "minimum": node.minimum = try number(value)
            case "maximum": node.maximum = try number(value)
            case "exclusiveMinimum": node.exclusiveMinimum = try number(value)
            case "exclusiveMaximum": node.exclusiveMaximum = try number(value)
            case "minLength": node.minLength = try integer(value)
            case "maxLength": node.maxLength = try integer(value)
            case "minProperties": node.minProperties = try integer(value)
            case "maxProperties": node.maxProperties = try integer(value)
            case "pattern":
                guard let source = value.stringValue else { throw fail("pattern must be a string") }
                do {
                    node.pattern = (source, try NSRegularExpression(pattern: ECMAPattern.icuPattern(source)))
                    node.asciiPattern = ASCIIPattern(source)
                } catch {
                    throw fail("invalid pattern \(source)")
                }
            case "format": node.format = value.stringValue
            case "allOf", "anyOf", "oneOf":
                guard let list = value.arrayValue else { throw fail("\(keyword) must be an array") }
                var nodes: [SchemaNode] = []
                for (index, sub) in list.enumerated() {
                    nodes.append(try compile(schema: sub, document: document, location: here + "/\(index)"))
                }
                if keyword == "allOf" { node.allOf = nodes } else if keyword == "anyOf" { node.anyOf = nodes } else { node.oneOf = nodes }
            case "not":
                node.not = try compile(schema: value, document: document, location: here)
            default:
                throw fail("keyword \(keyword) is not supported by this validator")
            }
        }
        return node
    }
}

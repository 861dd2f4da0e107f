import StrictJSON
import Testing

/// The object and type keywords of the validator: which violations an object gets and in which
/// order (the required names missing, in the order `required` lists them, then the member
/// count, then each member in the object's order), and where `stopAfter` cuts them.
@Suite("Schema objects and types")
struct SchemaObjectTests {
    static func schema(_ text: String) throws -> JSONSchema {
        try JSONSchema(documents: ["s.json": JSONValue.parse(text)], root: "s.json")
    }

    static func violations(_ schema: JSONSchema, _ instance: String, stopAfter limit: Int = 50) throws -> [String] {
        schema.validate(try JSONValue.parse(instance), stopAfter: limit).map { "\($0.pointer) \($0.keyword)" }
    }

    static let members = """
        {"type": "object", "required": ["a", "b", "a"], "additionalProperties": false, "maxProperties": 3,
         "properties": {"a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "number"}}}
        """

    @Test("required names, member count, members in order; a name required twice is reported twice")
    func objectViolations() throws {
        let schema = try Self.schema(Self.members)
        #expect(try Self.violations(schema, #"{"a": 1, "b": "x"}"#) == [])
        #expect(try Self.violations(schema, #"{"b": "x", "c": 1.5, "a": 2}"#) == [])
        #expect(try Self.violations(schema, #"{"b": "x"}"#) == ["/a required", "/a required"])
        #expect(try Self.violations(schema, #"{"a": 1.5, "b": 2, "d": null}"#) == ["/a type", "/b type", "/d additionalProperties"])
        #expect(try Self.violations(schema, #"{"c": "no"}"#) == ["/a required", "/b required", "/a required", "/c type"])
        #expect(try Self.violations(schema, #"{"a": 1, "b": "x", "c": 1, "d": 1}"#) == [" maxProperties", "/d additionalProperties"])
        #expect(try Self.violations(schema, #"{"a": "s", "b": 1, "d": null}"#, stopAfter: 2) == ["/a type", "/b type"])
        #expect(try Self.violations(schema, #"{"d": 1}"#, stopAfter: 1) == ["/a required", "/b required", "/a required", "/d additionalProperties"])
    }

    @Test("more than 64 required names")
    func manyRequired() throws {
        let names = (0..<70).map { "r\($0)" }
        let schema = try Self.schema("""
            {"type": "object", "required": [\(names.map { "\"\($0)\"" }.joined(separator: ", "))],
             "properties": {\(names.map { "\"\($0)\": {\"type\": \"boolean\"}" }.joined(separator: ", "))}}
            """)
        let all = names.map { "\"\($0)\": true" }
        #expect(try Self.violations(schema, "{\(all.joined(separator: ", "))}") == [])
        #expect(try Self.violations(schema, "{\(all.dropLast().joined(separator: ", "))}") == ["/r69 required"])
        #expect(try Self.violations(schema, "{\(all.dropFirst().joined(separator: ", "))}") == ["/r0 required"])
    }

    @Test("types: an integral number is an integer, a name that is no type matches nothing")
    func types() throws {
        let integerOrNull = try Self.schema(#"{"type": ["integer", "null"]}"#)
        #expect(try Self.violations(integerOrNull, "3") == [])
        #expect(try Self.violations(integerOrNull, "null") == [])
        #expect(try Self.violations(integerOrNull, "3.5") == [" type"])
        #expect(try Self.violations(integerOrNull, #""x""#) == [" type"])
        #expect(try Self.violations(try Self.schema(#"{"type": "number"}"#), "3") == [])
        #expect(try Self.violations(try Self.schema(#"{"type": ["object", "array"]}"#), "[]") == [])
        #expect(try Self.violations(try Self.schema(#"{"type": ["object", "array"]}"#), "true") == [" type"])
        #expect(try Self.violations(try Self.schema(#"{"type": "strng"}"#), #""x""#) == [" type"])
    }
}

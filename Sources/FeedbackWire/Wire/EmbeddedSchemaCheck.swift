import StrictJSON

/// The first two checks of every signed kiosk body other than an outcome batch (a certificate
/// renewal, a model update): strict JSON (duplicate members, lone surrogates…), then one of the
/// published schemas as embedded in the binary. What a schema cannot say is each body's own.
public struct EmbeddedSchemaCheck: Sendable {
    /// Why a body is not acceptable.
    public enum Invalid: Error, Sendable {
        case malformedJSON(String)
        /// Each violation with the JSON pointer of the offending field.
        case schema([JSONSchemaViolation])
    }

    let schema: JSONSchema

    /// `root` names a document of `schemas/`, e.g. `model-update.schema.json`.
    public init(root: String) {
        do {
            var documents: [String: JSONValue] = [:]
            for (name, text) in EmbeddedSchemas.documents { documents[name] = try JSONValue.parse(text) }
            schema = try JSONSchema(documents: documents, root: root)
        } catch {
            // The embedded schemas are fixed at build time and covered by tests.
            fatalError("embedded schema \(root) does not compile: \(error)")
        }
    }

    /// The body as JSON, only if it is strict JSON and conforms.
    public func check(_ body: [UInt8]) throws(Invalid) -> JSONValue {
        let json: JSONValue
        do {
            json = try JSONValue.parse(body)
        } catch {
            throw .malformedJSON(error.description)
        }
        let violations = schema.validate(json)
        guard violations.isEmpty else { throw .schema(violations) }
        return json
    }
}

import StrictJSON
/// Turns uploaded bytes into an ``OutcomeBatch`` or says precisely what is wrong with them,
/// against the published `outcome-batch.schema.json`.
///
/// ```swift
/// switch OutcomeBatchValidator.shared.decode(body) {
/// case .success(let batch): …
/// case .failure(.schema(let violations)): … // each with a JSON pointer
/// }
/// ```
public struct OutcomeBatchValidator: Sendable {
    public enum Failure: Error, Sendable {
        case malformedJSON(JSONSyntaxError)
        case schema([JSONSchemaViolation])
    }

    public static let shared: OutcomeBatchValidator = {
        do {
            return try OutcomeBatchValidator()
        } catch {
            // The embedded schema is fixed at build time and covered by tests.
            fatalError("embedded outcome batch schema does not compile: \(error)")
        }
    }()

    let schema: JSONSchema
    /// The schema of one outcome, for agents that check what they queue.
    public let outcomeSchema: JSONSchema
    /// The schema of one consent event.
    public let consentEventSchema: JSONSchema

    public init() throws {
        var documents: [String: JSONValue] = [:]
        for (name, text) in EmbeddedSchemas.documents {
            documents[name] = try JSONValue.parse(text)
        }
        schema = try JSONSchema(documents: documents, root: "outcome-batch.schema.json")
        outcomeSchema = try JSONSchema(documents: documents, root: "outcome-batch.schema.json#/$defs/MatchOutcome")
        consentEventSchema = try JSONSchema(documents: documents, root: "outcome-batch.schema.json#/$defs/ConsentEvent")
    }

    public func decode(_ body: some Collection<UInt8>) -> Result<OutcomeBatch, Failure> {
        if let batch = OutcomeBatchReader.read(body) { return .success(batch) }
        return decodeBySchema(body)
    }

    /// The upload as ``OutcomeBatchReader`` reads it in one pass: nil for a body it leaves to
    /// the general way (``decodeBySchema(_:)``), valid or not. For the tests and the fuzzer
    /// that hold the two to the same answers.
    public static func readDirectly(_ body: some Collection<UInt8>) -> OutcomeBatch? {
        OutcomeBatchReader.read(body)
    }

    /// The general way: the body parsed, checked against the schema and decoded, with every
    /// violation named.
    public func decodeBySchema(_ body: some Collection<UInt8>) -> Result<OutcomeBatch, Failure> {
        let json: JSONValue
        do {
            json = try JSONValue.parse(body)
        } catch {
            return .failure(.malformedJSON(error))
        }
        var violations = schema.validate(json)
        guard violations.isEmpty else { return .failure(.schema(violations)) }
        for (index, outcome) in (json["outcomes"]?.arrayValue ?? []).enumerated() {
            violations += MatchOutcome.crossFieldViolations(of: outcome, at: "/outcomes/\(index)")
        }
        guard violations.isEmpty else { return .failure(.schema(violations)) }
        do {
            return .success(try OutcomeBatch(validated: json))
        } catch {
            return .failure(.schema([JSONSchemaViolation(pointer: "", keyword: "type", message: error.description)]))
        }
    }

    /// The embedded schema documents by file name, for tools that publish or compare them.
    public static var schemaDocuments: [String: String] { EmbeddedSchemas.documents }
}

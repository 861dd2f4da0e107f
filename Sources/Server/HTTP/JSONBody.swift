import FeedbackWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StrictJSON

/// JSON request and response bodies of the API (kiosk uploads have their own validation).
enum JSONBody {
    static let limit = 64 * 1024

    /// With `members`, a top-level member the request type does not have is refused
    /// (`additionalProperties: false` in its schema) rather than ignored.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, members: Set<String>? = nil) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw ProblemResponse(.bodyTooLarge, "the limit for this endpoint is \(limit) bytes")
        }
        let data = Data(buffer.readableBytesView)
        let parsed: JSONValue
        do {
            parsed = try JSONValue.parse([UInt8](data))
        } catch {
            throw ProblemResponse(.malformedJSON, error.description)
        }
        if let members, case let .object(given) = parsed {
            let unknown = given.map(\.key).filter { !members.contains($0) }
            if !unknown.isEmpty {
                throw ProblemResponse(.schemaViolation, "unknown member(s) \(unknown.joined(separator: ", "))",
                                      errors: unknown.map { .init(pointer: JSONPointer.appending("", $0), keyword: "additionalProperties",
                                                                  message: "is not a known property") })
            }
        }
        do {
            return try WireJSON.decoder().decode(T.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ProblemResponse(.schemaViolation, "missing \(key.stringValue)",
                                  errors: [.init(pointer: pointer(context.codingPath + [key]), keyword: "required", message: "is required")])
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            throw ProblemResponse(.schemaViolation, context.debugDescription,
                                  errors: [.init(pointer: pointer(context.codingPath), keyword: "type", message: context.debugDescription)])
        }
    }

    static func pointer(_ path: [any CodingKey]) -> String {
        path.reduce("") { partial, key in
            if let index = key.intValue { return JSONPointer.appending(partial, index) }
            return JSONPointer.appending(partial, key.stringValue)
        }
    }

    static func response(_ value: some Encodable, status: HTTPResponse.Status) throws -> Response {
        response(bytes: [UInt8](try WireJSON.encoder().encode(value)), status: status)
    }

    /// A JSON value built by hand, for answers whose shape no Codable type describes.
    static func response(json value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        response(bytes: value.serialized(), status: status)
    }

    /// Bytes that are JSON already: a signed envelope or a receipt as stored.
    static func response(bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}


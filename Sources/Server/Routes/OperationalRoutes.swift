import HTTPTypes
import Feedback
import Foundation
import Hummingbird
import NIOCore
import Storage

/// Liveness, readiness, metrics and the problem type descriptions.
struct OperationalRoutes: Sendable {
    let store: any FeedbackStore
    let metrics: ServerMetrics

    func register(on router: Router<FeedbackRequestContext>) {
        router.get("/healthz") { _, _ in
            try JSONBody.response(["status": "ok"], status: .ok)
        }
        router.get("/readyz") { _, _ in
            do {
                try await self.store.ping()
            } catch {
                throw ProblemResponse(.unavailable, "the store does not answer: \(error)")
            }
            return try JSONBody.response(["status": "ready"], status: .ok)
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(bytes: self.metrics.render())))
        }
        router.get("/problems/:slug") { _, context in
            let slug = try context.parameters.require("slug")
            guard let type = ProblemType.all.first(where: { $0.slug == slug }) else {
                throw ProblemResponse(.notFound, "no problem type \(slug)")
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: "\(type.slug)\nHTTP \(type.status)\n\(type.title)\n")))
        }
    }
}

/// JSON request and response bodies for the admin and enrollment endpoints.
enum JSONBody {
    static let limit = 64 * 1024

    static func decode<T: Decodable>(_ type: T.Type, from request: Request) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw ProblemResponse(.bodyTooLarge, "the limit for this endpoint is \(limit) bytes")
        }
        let data = Data(buffer.readableBytesView)
        do {
            _ = try JSONValue.parse([UInt8](data))
        } catch {
            throw ProblemResponse(.malformedJSON, error.description)
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
        let data = try WireJSON.encoder().encode(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}


import FeedbackWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import StrictJSON

/// A refusal on its way to the client as `application/problem+json` (RFC 9457): the one
/// error type that routes, services and authentication throw for anything the client did.
public struct ProblemResponse: HTTPResponseError {
    public let type: ProblemType
    public let details: ProblemDetails

    public init(_ type: ProblemType, _ detail: String? = nil, errors: [JSONSchemaViolation]? = nil) {
        self.type = type
        details = ProblemDetails(type, detail: detail, errors: errors)
    }

    /// A signature or digest the upload policy refused.
    init(_ rejection: UploadSignaturePolicy.Rejection) {
        self.init(rejection.problem, rejection.detail)
    }

    public var status: HTTPResponse.Status { .init(code: details.status) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var details = self.details
        details.instance = request.uri.path
        let body = (try? WireJSON.encoder().encode(details)) ?? Data()
        return Response(status: status,
                        headers: [.contentType: "application/problem+json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}

/// Turns every error that escapes a handler into problem details, so that no endpoint ever
/// answers with an empty body or an HTML page.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let problem as ProblemResponse {
            return try problem.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            let type: ProblemType
            switch error.status.code {
            case 404: type = .notFound
            case 405: type = .methodNotAllowed
            case 413: type = .bodyTooLarge
            case 415: type = .unsupportedMediaType
            case 401: type = .unauthorized
            case 500...: type = .internalError
            default: type = .invalidRequest
            }
            return try ProblemResponse(type, (error as? HTTPError)?.body).response(from: request, context: context)
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(String(reflecting: error))", "path": "\(request.uri.path)"])
            return try ProblemResponse(.internalError, "the error was logged").response(from: request, context: context)
        }
    }
}

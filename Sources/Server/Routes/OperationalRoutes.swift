import HTTPTypes
import FeedbackWire
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

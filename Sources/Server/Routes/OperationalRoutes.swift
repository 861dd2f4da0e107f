import HTTPTypes
import FeedbackWire
import Foundation
import Hummingbird
import NIOCore
import Storage

/// Liveness, readiness and the problem type descriptions. `/metrics` has a listener of its
/// own (`MetricsListener`).
struct OperationalRoutes: Sendable {
    let store: any FeedbackStore
    let warmup: StatisticsWarmup

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
            if let reading = self.warmup.pending() {
                throw ProblemResponse(.unavailable, "reading the usual windows of score statistics since start "
                    + "(\(reading.components.seconds) s so far; ready when done, or after \(self.warmup.longest.components.seconds) s)")
            }
            return try JSONBody.response(["status": "ready"], status: .ok)
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

import FederationAPI
import Feedback
import Foundation
import Hummingbird
import NIOCore
import Storage

/// Signed model releases: engineers and compliance officers (for the privacy report) list and inspect them; kiosks (and engineers) download
/// the current one and verify it with the release key before use.
struct ModelRoutes: Sendable {
    let federation: any FederationStore
    let admin: AdminAuthenticator
    let kiosks: KioskAuthentication

    func register(on router: Router<FeedbackRequestContext>) {
        let reviewers: Set<String> = ["engineer", "compliance"]
        router.get("/v1/models/releases") { request, _ in
            try await self.admin.require(request, roles: reviewers)
            let summaries = try await self.federation.modelReleases().map(Self.summary)
            return try JSONBody.response(ModelReleaseList(releases: summaries), status: .ok)
        }
        router.get("/v1/models/releases/:version") { request, context in
            try await self.admin.require(request, roles: reviewers)
            let text = try context.parameters.require("version")
            guard let version = Int(text), let stored = try await self.federation.modelRelease(version: version) else {
                throw ProblemResponse(.notFound, "no model release \(text)")
            }
            return try JSONBody.response(try Self.summary(stored), status: .ok)
        }
        router.get("/v1/models/current") { request, context in
            try await self.kiosks.requireKioskOrToken(request, context: context)
            guard let current = try await self.federation.modelReleases().last else {
                throw ProblemResponse(.notFound, "no model release has been published yet")
            }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(bytes: current.envelope)))
        }
    }

    static func summary(_ stored: StoredModelRelease) throws -> ModelReleaseSummary {
        ModelReleaseSummary(try ModelReleaseCoding.decode(stored.payload), publishedAt: stored.publishedAt)
    }
}

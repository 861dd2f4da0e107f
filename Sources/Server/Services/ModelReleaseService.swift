import FederationAPI
import FeedbackWire
import Storage

/// Signed model releases as the federated rounds stored them.
struct ModelReleaseService: Sendable {
    let federation: any FederationStore

    func releases() async throws -> ModelReleaseList {
        ModelReleaseList(releases: try await federation.modelReleases().map(Self.summary))
    }

    /// The release whose version is `text`, as the path names it.
    func release(_ text: String) async throws -> ModelReleaseSummary {
        guard let version = Int(text), let stored = try await federation.modelRelease(version: version) else {
            throw ProblemResponse(.notFound, "no model release \(text)")
        }
        return try Self.summary(stored)
    }

    /// The signed envelope of the newest release a round made, which kiosks verify before use
    /// (a policy search's candidates, which no round made, are scored in shadow, never current).
    func currentEnvelope() async throws -> [UInt8] {
        guard let current = try await federation.modelReleases().last(where: { $0.roundID > 0 }) else {
            throw ProblemResponse(.notFound, "no model release has been published yet")
        }
        return current.envelope
    }

    static func summary(_ stored: StoredModelRelease) throws -> ModelReleaseSummary {
        ModelReleaseSummary(try ModelReleaseCoding.decode(stored.payload), publishedAt: stored.publishedAt)
    }
}

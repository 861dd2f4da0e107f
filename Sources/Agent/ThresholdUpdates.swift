import Calibration
import FeedbackWire
import Foundation
import ThresholdAPI

/// The kiosk's side of threshold releases: download the published release, verify it with
/// the release key pinned at enrollment, keep it, and apply the entry of its own cohort.
extension KioskAgent {
    public struct AppliedThreshold: Sendable, Codable, Equatable {
        public var releaseVersion: Int
        public var cohort: CohortKey
        public var threshold: Double
        public var targetFMR: Double
        public var fallbackLevel: FallbackLevel

        enum CodingKeys: String, CodingKey {
            case releaseVersion = "release_version", cohort, threshold, targetFMR = "target_fmr", fallbackLevel = "fallback_level"
        }
    }

    /// Downloads, verifies and stores the current release. Nothing is stored unless it verifies.
    /// The certificate is renewed first when it is due.
    public func pullThresholds() async throws -> ThresholdRelease {
        let settings = try loadSettings()
        _ = await renewCertificateIfDue()
        let (status, body) = try await ServerTLS.withClient(try clientConfiguration()) {
            let (status, body) = try await ServerTLS.get(client: $0, url: settings.serverURL + "/v1/thresholds/current")
            if status == 200 { try await learnReleaseKey(for: body, client: $0, settings: settings) }
            return (status, body)
        }
        guard status == 200 else { throw ServerTLS.refusal(status: status, body: body) }
        let release = try verifiedRelease(body)
        try files.write(Data(body), to: files.thresholds, mode: 0o600)
        return release
    }

    /// The stored release, verified again: a file changed on disk is refused too.
    public func storedThresholds() throws -> ThresholdRelease {
        guard let data = FileManager.default.contents(atPath: files.thresholds) else {
            throw AgentError.unreadable(files.thresholds, "no release pulled yet; run `faceloop-agent thresholds pull`")
        }
        return try verifiedRelease([UInt8](data))
    }

    /// The threshold for this kiosk's cohort from a verified release.
    public func applicableThreshold(in release: ThresholdRelease, cohort: CohortKey) throws -> AppliedThreshold {
        guard let entry = release.entry(for: cohort) else {
            throw AgentError.server("release \(release.version) has no threshold for \(cohort); keep the current one")
        }
        return AppliedThreshold(releaseVersion: release.version, cohort: cohort, threshold: entry.threshold,
                                targetFMR: entry.targetFMR, fallbackLevel: entry.fallbackLevel)
    }

    func verifiedRelease(_ bytes: [UInt8]) throws -> ThresholdRelease {
        try verifiedEnvelope(bytes) { envelope, key in
            do {
                return try ThresholdReleaseCoding.verify(envelope, publicKey: key)
            } catch let error as SignedRelease.VerificationError {
                throw AgentError.releaseRefused(error.description)
            } catch {
                throw AgentError.releaseRefused("the signed payload is not a threshold release: \(error)")
            }
        }
    }

    /// Decodes a signed release (downloaded or stored) and hands it, with the trusted release
    /// key its key id names (`releaseKeys`), to the kind-specific verification.
    func verifiedEnvelope<Release>(_ bytes: [UInt8], verify: (SignedRelease, Data) throws -> Release) throws -> Release {
        let keys = try releaseKeys()
        let envelope: SignedRelease
        do {
            envelope = try WireJSON.decoder().decode(SignedRelease.self, from: Data(bytes))
        } catch {
            throw AgentError.releaseRefused("not a signed release: \(error)")
        }
        guard let key = keys.first(where: { $0.keyID == envelope.keyID }) else {
            throw AgentError.releaseRefused("the release is signed with key \(envelope.keyID), which does not chain to the pinned release key")
        }
        return try verify(envelope, key.publicKey.rawRepresentation)
    }
}

import FeedbackWire
import Foundation
import Storage

/// The enrolled kiosks and what they sent: the device list, revocation, outcome counts.
struct FleetService: Sendable {
    let store: any FeedbackStore
    let now: @Sendable () -> Date

    func devices() async throws -> DeviceList {
        DeviceList(devices: try await store.deviceSummaries())
    }

    /// Revokes the device at once: its next upload is refused, and its certificate no longer opens kiosk reads.
    func revokeDevice(id: String, by caller: APITokenRecord) async throws -> DeviceSummary {
        guard try await store.revokeDevice(id: id, at: now(), actor: caller.actor),
              let summary = try await store.deviceSummaries().first(where: { $0.deviceID == id }) else {
            throw ProblemResponse(.notFound, "no device \(id)")
        }
        return summary
    }

    /// Binds the kiosk to the registered sites of `request` instead of those it had; the
    /// move is an audit-log entry by the caller.
    func moveDevice(id: String, _ request: DeviceMoveRequest, by caller: APITokenRecord) async throws -> DeviceSummary {
        let sites = try EnrollmentService.checkSites(request.sites)
        guard try await EnrollmentService.bindingSites({ try await store.moveDevice(id: id, to: sites, at: now(), actor: caller.actor) }) != nil,
              let summary = try await store.deviceSummaries().first(where: { $0.deviceID == id }) else {
            throw ProblemResponse(.notFound, "no device \(id)")
        }
        return summary
    }

    func outcomeStats() async throws -> OutcomeStats {
        try await store.outcomeStats()
    }
}

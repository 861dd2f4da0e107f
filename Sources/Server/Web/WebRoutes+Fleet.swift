import Charts
import FeedbackWire
import Storage
import WebPages

extension WebRoutes {
    /// Kiosks with their last upload, reported backlog and refusals (the admin-only device
    /// list), and stored outcomes by kiosk and cohort (the outcome counts engineers read).
    func fleetPage(_ session: WebSessions.Session) async throws -> FleetPage {
        var devices: FleetPage.Devices?
        if session.may([.admin]) {
            let summaries = try await store.deviceSummaries()
            var rejections: [String: Int] = [:]
            for summary in summaries { rejections.merge(summary.refusedEvents, uniquingKeysWith: +) }
            devices = FleetPage.Devices(
                kiosks: summaries.map { summary in
                    FleetPage.Kiosk(
                        deviceID: summary.deviceID, status: summary.status.rawValue, revoked: summary.status == .revoked,
                        lastUpload: summary.lastUploadAt.map(Format.time) ?? "never",
                        backlog: summary.reportedBacklog.map(String.init) ?? "not reported",
                        backlogReportedAt: summary.backlogReportedAt.map(Format.time) ?? "",
                        batches: summary.batches, events: summary.events,
                        refused: summary.refusedEvents.values.reduce(0, +),
                        sites: summary.sites.isEmpty ? "none" : summary.sites.joined(separator: ", "),
                        certificateExpires: Format.time(summary.certificateNotAfter),
                        certificateExpiring: summary.status == .active && summary.certificateNotAfter < now().addingTimeInterval(30 * 86_400))
                },
                active: summaries.filter { $0.status == .active }.count,
                backlogTotal: summaries.compactMap(\.reportedBacklog).reduce(0, +),
                rejections: rejections.sorted { ($1.value, $0.key) < ($0.value, $1.key) }.map { FleetPage.Count(name: $0.key, events: $0.value) })
        }
        var outcomes: FleetPage.Outcomes?
        if session.may([.engineer]) {
            let stats = try await store.outcomeStats()
            outcomes = FleetPage.Outcomes(
                totalEvents: stats.totalEvents, totalBatches: stats.totalBatches, genuine: stats.byLabel.genuine,
                impostor: stats.byLabel.impostor, unknown: stats.byLabel.unknown,
                byKiosk: stats.byDevice.map { FleetPage.Count(name: $0.deviceID, events: $0.events) },
                byCohort: stats.byCohort.map { FleetPage.Count(name: "\($0.site) / \($0.cameraModel)", events: $0.events) })
        }
        return FleetPage(devices: devices, outcomes: outcomes)
    }
}

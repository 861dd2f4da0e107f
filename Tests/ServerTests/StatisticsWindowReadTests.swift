import Calibration
import Crypto
import Foundation
@testable import Server
@testable import Storage
import TestSupport
import Testing
import ThresholdAPI

/// The start-up read of the usual windows: where the store keeps windows, the whole history,
/// and once a release is published its window and the days since, are kept afterwards.
@Suite("The usual windows of statistics read ahead")
struct StatisticsWindowReadTests {
    @Test("the whole history at first; with a published release, its window and the days since too")
    func usualWindows() async throws {
        let directory = try temporaryDirectory("usual-windows")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"))
        let key = Curve25519.Signing.PrivateKey()
        let service = ThresholdService(store: store, jobs: store, releaseKey: { key }, guardrail: 0.05, metrics: ServerMetrics(),
                                       now: { Date() })
        #expect(store.statisticsWindows.keptWindows.isEmpty)
        try await service.readUsualWindows()
        #expect(store.statisticsWindows.keptWindows == [.init(firstDay: nil, lastDay: nil)])

        let window = try DataWindow(startUnixSeconds: 20_000 * 86_400, endUnixSeconds: 20_030 * 86_400)
        let release = try ThresholdRelease(version: 1, previousVersion: nil, policy: "conservative", window: window, entries: [])
        #expect(try await store.addThresholdRelease(StoredThresholdRelease(
            version: 1, state: .computed, payload: try ThresholdReleaseCoding.canonicalBytes(release), refused: [], largestChange: nil,
            requiredApprovals: 1, approvals: [], computedAt: Date(), computedBy: "test", computedByToken: nil)))
        #expect(try await store.publishThresholdRelease(version: 1, from: [.computed], envelope: [1], at: Date(), retiring: .superseded,
                                                        actor: "test"))
        try await service.readUsualWindows()
        #expect(store.statisticsWindows.keptWindows == [.init(firstDay: nil, lastDay: nil), .init(firstDay: 20_000, lastDay: 20_029),
                                                         .init(firstDay: 20_030, lastDay: nil)])
    }
}

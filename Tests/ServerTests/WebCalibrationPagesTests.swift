import Calibration
import Foundation
@testable import Server
import Testing
import WebPages

/// The calibration page shows its cohorts 50 at a time, with every drift-flagged cohort named
/// and linked to the page that shows it; a page number that is not one is refused.
@Suite("Calibration page: cohorts a page at a time")
struct WebCalibrationPagesTests {
    static func key(_ index: Int) -> CohortKey {
        CohortKey(modelVersion: "m1", cameraModel: "cam-a", cohort: String(format: "site-%03d", index))
    }

    static func report(flagged: Bool) throws -> DriftReport {
        var before = ScoreStatistics(layout: CohortStatistics.liveLayout)
        var after = ScoreStatistics(layout: CohortStatistics.liveLayout)
        for index in 0..<400 {
            try before.add(score: 0.3 + 0.001 * Double(index % 100), label: .impostor)
            try before.add(score: 0.8 + 0.001 * Double(index % 100), label: .genuine)
            try after.add(score: (flagged ? 0.6 : 0.3) + 0.001 * Double(index % 100), label: .impostor)
            try after.add(score: 0.8 + 0.001 * Double(index % 100), label: .genuine)
        }
        return try DriftReport(reference: before, current: after, threshold: 0.7, targetFMR: 1e-3, limits: .standard)
    }

    @Test("page 2 of 120 cohorts: its range and links, and the flagged cohorts of every page")
    func pages() throws {
        let keys = (0..<120).map(Self.key)
        let flagged = try Self.report(flagged: true), stable = try Self.report(flagged: false)
        #expect(!flagged.flags.isEmpty && stable.flags.isEmpty)
        let reports: [CohortKey: DriftReport?] = [Self.key(3): flagged, Self.key(60): flagged, Self.key(110): flagged, Self.key(4): stable,
                                                  Self.key(5): nil]
        let pages = WebRoutes.cohortPages(keys: keys, page: 2, pageCount: 3, reports: reports)
        #expect(pages.range == "Cohorts 51–100 of 120")
        #expect(pages.previous == "/ui/calibration?page=1" && pages.next == "/ui/calibration?page=3")
        #expect(pages.flagged.map(\.key) == [Self.key(3), Self.key(60), Self.key(110)].map(\.description))
        #expect(pages.flagged.map(\.link) == ["/ui/calibration?page=1", "/ui/calibration?page=2", "/ui/calibration?page=3"])
        #expect(pages.flaggedCount == 3)

        let last = WebRoutes.cohortPages(keys: keys, page: 3, pageCount: 3, reports: [:])
        #expect(last.range == "Cohorts 101–120 of 120" && last.next == nil && last.previous == "/ui/calibration?page=2")
        #expect(!last.hasFlagged)
        let only = WebRoutes.cohortPages(keys: Array(keys.prefix(7)), page: 1, pageCount: 1, reports: [:])
        #expect(only.range == "Cohorts 1–7 of 7" && only.previous == nil && only.next == nil)
    }

    @Test("the page renders its range, its links and the flagged cohorts")
    func rendered() throws {
        let pages = WebRoutes.cohortPages(keys: (0..<120).map(Self.key), page: 2, pageCount: 3,
                                          reports: [Self.key(60): try Self.report(flagged: true)])
        let chrome = PageChrome(user: "erin", role: "engineer", links: [], csrf: "t")
        let html = try PageRenderer().calibration(CalibrationPage(releases: [], cohorts: [], cohortPages: pages), chrome: chrome)
        #expect(html.contains("<span data-field=\"cohort-range\">Cohorts 51–100 of 120</span>"))
        #expect(html.contains("href=\"/ui/calibration?page=1\" rel=\"prev\"") && html.contains("href=\"/ui/calibration?page=3\" rel=\"next\""))
        #expect(html.contains("<tr data-cohort=\"m1/cam-a/site-060\"><td><a href=\"/ui/calibration?page=2\">"))
        #expect(html.contains("<span data-field=\"flagged-count\">1</span>"))
    }

    @Test("a page number that is not a whole number from 1 is a 400; one past the last is a 404")
    func refused() async throws {
        let fixture = try await WebSessionRouteTests.Fixture()
        try await fixture.run { browser in
            let (session, _) = try await browser.signIn(fixture.adminToken)
            #expect(try await browser.send(.get, "/ui/calibration", session: session).status == 200)
            #expect(try await browser.send(.get, "/ui/calibration?page=1", session: session).body.contains("No cohort"))
            for bad in ["0", "-1", "two", "1.5"] {
                let answer = try await browser.send(.get, "/ui/calibration?page=\(bad)", session: session)
                #expect(answer.status == 400, "page=\(bad)")
                #expect(answer.body.contains("page must be a whole number from 1"), "page=\(bad)")
            }
            let past = try await browser.send(.get, "/ui/calibration?page=2", session: session)
            #expect(past.status == 404 && past.body.contains("past the last page of cohorts, 1"))
        }
    }
}

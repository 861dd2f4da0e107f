import Crypto
import Foundation
import Testing
@testable import WebPages

@Suite("Page rendering")
struct PageRendererTests {
    static let chrome = PageChrome(user: "erin", role: "admin",
                                   links: [.init(label: "Fleet", href: "/ui/fleet", current: true)], csrf: "form-token-1")

    static func kiosk(_ id: String) -> FleetPage.Kiosk {
        FleetPage.Kiosk(deviceID: id, status: "active", revoked: false, lastUpload: "never", backlog: "3", backlogReportedAt: "",
                        batches: 1, events: 2, refused: 0)
    }

    @Test("values from the store are escaped, never markup")
    func escaping() throws {
        let hostile = "<img src=x onerror=alert(1)>"
        let page = FleetPage(devices: .init(kiosks: [Self.kiosk(hostile)], active: 1, backlogTotal: 3,
                                            rejections: [.init(name: "\"><script>", events: 1)]),
                             outcomes: nil)
        let html = try PageRenderer().fleet(page, chrome: Self.chrome)
        #expect(!html.contains(hostile))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(!html.contains("<script>"))
    }

    @Test("a section the role may not see is not rendered at all")
    func sections() throws {
        let renderer = try PageRenderer()
        let outcomes = FleetPage.Outcomes(totalEvents: 5, totalBatches: 1, genuine: 2, impostor: 3, unknown: 0, byKiosk: [], byCohort: [])
        let engineer = renderer.fleet(FleetPage(devices: nil, outcomes: outcomes), chrome: Self.chrome)
        #expect(!engineer.contains("id=\"kiosks\"") && !engineer.contains("id=\"rejections\""))
        #expect(engineer.contains("data-field=\"total-events\">5<"))
        let admin = renderer.fleet(FleetPage(devices: .init(kiosks: [Self.kiosk("k-1")], active: 1, backlogTotal: 3, rejections: []),
                                             outcomes: outcomes), chrome: Self.chrome)
        #expect(admin.contains("<tr data-kiosk=\"k-1\""))
        var expiring = Self.kiosk("k-2")
        expiring.sites = "branch-042, branch-043"
        expiring.certificateExpires = "2027-01-01 00:00 UTC"
        expiring.certificateExpiring = true
        let listed = renderer.fleet(FleetPage(devices: .init(kiosks: [Self.kiosk("k-1"), expiring], active: 2, backlogTotal: 6, rejections: []),
                                              outcomes: nil), chrome: Self.chrome)
        #expect(listed.contains("data-field=\"sites\">branch-042, branch-043<"))
        #expect(listed.contains("data-field=\"certificate-expires\" class=\"warn\">2027-01-01 00:00 UTC<"), "a kiosk that did not renew stands out")
        #expect(listed.components(separatedBy: "class=\"warn\"").count == 2, "only the expiring one")
        #expect(admin.contains("data-field=\"kiosks\">1<"))
        let officer = renderer.federation(FederationPage(rounds: nil, releases: []), chrome: Self.chrome)
        #expect(!officer.contains("id=\"rounds\"") && officer.contains("id=\"model-releases\""))
    }

    @Test("every form posts the session's form token, and only the release's allowed action is offered")
    func forms() throws {
        let release = CalibrationPage.Release(version: 3, state: "approved", policy: "conservative", cohorts: 2, refused: 0, computed: "",
                                              approvals: "1 of 1", published: "", largestChange: "", canApprove: false, canPublish: true)
        let html = try PageRenderer().calibration(CalibrationPage(releases: [release], cohorts: []), chrome: Self.chrome)
        #expect(html.contains("action=\"/ui/calibration/releases/3/publish\""))
        #expect(!html.contains("/approve\""))
        let forms = html.components(separatedBy: "<form").dropFirst()
        #expect(forms.count == 2, "publish and sign out")
        #expect(forms.allSatisfy { $0.contains("name=\"csrf\" value=\"form-token-1\"") })
    }

    @Test("the inline stylesheet is exactly the one the Content-Security-Policy allows by hash")
    func stylesheetHash() throws {
        let html = try PageRenderer().signIn(SignInPage(error: "nope"))
        let style = try #require(html.components(separatedBy: "<style>").last?.components(separatedBy: "</style>").first)
        let hash = Data(SHA256.hash(data: Data(style.utf8))).base64EncodedString()
        #expect(Stylesheet.contentSecurityPolicy.contains("style-src 'sha256-\(hash)'"))
        #expect(Stylesheet.contentSecurityPolicy.contains("default-src 'none'"))
        #expect(!html.contains("<script"))
    }
}

import Charts
import Testing
@testable import WebPages

@Suite("Model rollouts on the calibration page")
struct RolloutSectionTests {
    static let chrome = PageChrome(user: "erin", role: "engineer",
                                   links: [.init(label: "Calibration", href: "/ui/calibration", current: true)], csrf: "form-token-1")

    static func chart(candidateLabel: String = "candidate: release 3") -> String {
        DETChart(title: "DET curves, cam-a lobby", series: [
            .init(label: "current: release 2", color: "#1f4e99",
                  points: [.init(falseMatchRate: 0.5, falseNonMatchRate: 0.001), .init(falseMatchRate: 0.001, falseNonMatchRate: 0.2)]),
            .init(label: candidateLabel, color: "#c2410c", dashed: true,
                  points: [.init(falseMatchRate: 0.5, falseNonMatchRate: 0.0005), .init(falseMatchRate: 0.001, falseNonMatchRate: 0.1)]),
        ], markers: [ThresholdMarker(kind: .released, label: "current threshold v4: 0.41", threshold: 0.41, falseMatchRate: 0.001,
                                     falseNonMatchRate: 0.2, color: "#1f4e99")]).svg()
    }

    static func figures() -> CalibrationPage.PairedFigures {
        CalibrationPage.PairedFigures(
            attempts: "400 genuine, 9000 impostor, 40 subjects", thresholds: "0.41 → 0.47", currentFNMR: "5.25 %", candidateFNMR: "3.5 %",
            fnmrDifference: "-1.75 % (subject bootstrap -3.1 % to -0.4 %)", candidateWorse: 4, candidateBetter: 11, mcnemarPValue: "0.0227",
            currentFMR: "0.0889 %", candidateFMR: "0.0778 %", currentFMRUpperBound: "0.146 %", candidateFMRUpperBound: "0.131 %")
    }

    static func pair(modelVersion: String = "backbone:adapter-3", test: CalibrationPage.PairedTest?) -> CalibrationPage.PairedCohort {
        CalibrationPage.PairedCohort(
            key: "cam-a/lobby/backbone:adapter-2", cameraModel: "cam-a", site: "lobby", currentModelVersion: "backbone:adapter-2",
            candidateModelVersion: modelVersion, genuine: 400, impostors: 9000, subjects: 40,
            thresholds: [.init(role: "current", modelVersion: "backbone:adapter-2", threshold: "0.41", falseMatchRate: "0.1 %", falseNonMatchRate: "20 %"),
                         .init(role: "candidate", modelVersion: modelVersion, threshold: nil, falseMatchRate: "n/a", falseNonMatchRate: "n/a")],
            detSVG: chart(), test: test)
    }

    static func canary() -> CalibrationPage.Rollout {
        CalibrationPage.Rollout(
            version: 3, modelVersion: "backbone:adapter-3", stage: "canary", stageLabel: "canary", updated: "2026-12-01 10:00:00 UTC",
            promotedCohorts: ["cam-a · lobby"], canary: "kiosk-7, kiosk-9",
            approvals: ["shadow by erin, 2026-11-20 09:00:00 UTC", "canary by sam, 2026-12-01 10:00:00 UTC", "fleet by erin, 2026-12-02 08:00:00 UTC"],
            fleetApprovals: "1 of 2", reason: nil, comparison: "computed 2026-12-01 10:00:00 UTC at target FMR 0.1 %",
            comparisonError: nil,
            pairs: [pair(test: CalibrationPage.PairedTest(verdict: "better", offersPromotion: true, reason: "McNemar p < 0.05", figures: figures()))])
    }

    static func rolledBack() -> CalibrationPage.Rollout {
        CalibrationPage.Rollout(
            version: 2, modelVersion: "backbone:adapter-2", stage: "rolled_back", stageLabel: "rolled back", updated: "2026-11-10 10:00:00 UTC",
            promotedCohorts: [], canary: nil, approvals: ["shadow by erin, 2026-11-01 09:00:00 UTC"], fleetApprovals: nil,
            reason: "automatic: FMR above its bound", comparison: nil, comparisonError: nil, pairs: [])
    }

    static func render(_ rollouts: [CalibrationPage.Rollout]) throws -> String {
        try PageRenderer().calibration(CalibrationPage(releases: [], cohorts: [], rollouts: rollouts), chrome: chrome)
    }

    /// The markup of the element whose opening tag holds `marker`, up to the next tag.
    static func text(after marker: String, in html: String) -> String? {
        html.components(separatedBy: marker).dropFirst().first?.split(separator: "<", maxSplits: 1).first.map { String($0.dropFirst()) }
    }

    @Test("a rollout shows its stage, cohorts, canary and approvals, and per cohort one chart with both models' curves")
    func rolloutAndChart() throws {
        let html = try Self.render([Self.canary(), Self.rolledBack()])
        let sections = html.components(separatedBy: "<section class=\"cohort\" data-rollout=").dropFirst()
        #expect(sections.count == 2)
        #expect(sections.first?.hasPrefix("\"3\"") == true, "newest first, in the order given")
        let canary = try #require(sections.first)
        #expect(Self.text(after: "data-stage=\"canary\"", in: canary) == "canary")
        #expect(canary.contains("<div>cam-a · lobby</div>"))
        #expect(Self.text(after: "data-field=\"canary\"", in: canary) == "kiosk-7, kiosk-9")
        #expect(Self.text(after: "data-field=\"fleet-approvals\"", in: canary) == "1 of 2")
        #expect(canary.contains("<div>fleet by erin, 2026-12-02 08:00:00 UTC</div>"))
        #expect(!canary.contains("data-field=\"reason\""))

        let svgs = canary.components(separatedBy: "<svg").dropFirst()
        #expect(svgs.count == 1, "one chart per cohort")
        let curves = try #require(svgs.first).components(separatedBy: "<polyline class=\"curve\"").dropFirst()
        #expect(curves.count == 2)
        #expect(curves.first?.contains("stroke=\"#1f4e99\"") == true && curves.last?.contains("stroke=\"#c2410c\"") == true)
        #expect(canary.contains(">current: release 2</text>") && canary.contains(">candidate: release 3</text>"))
        #expect(canary.contains("<tr data-role=\"candidate\"><td>candidate</td><td>backbone:adapter-3</td><td colspan=\"3\" class=\"muted\">none published for this cohort</td>"))
        #expect(Self.text(after: "data-role=\"current\"><td>current</td><td>backbone:adapter-2</td><td class=\"n\" data-field=\"threshold\"", in: canary) == "0.41")
    }

    @Test("the paired test's figures are shown: verdict, FNMR current → candidate, McNemar b, c and p, FMR upper bounds")
    func pairedTestFigures() throws {
        let html = try Self.render([Self.canary()])
        #expect(html.contains("data-verdict=\"better\""))
        #expect(html.contains("<span class=\"stable\">better</span> McNemar p &lt; 0.05"))
        #expect(Self.text(after: "data-field=\"fnmr-current\"", in: html) == "5.25 %")
        #expect(Self.text(after: "data-field=\"fnmr-candidate\"", in: html) == "3.5 %")
        #expect(Self.text(after: "data-field=\"mcnemar-b\"", in: html) == "4")
        #expect(Self.text(after: "data-field=\"mcnemar-c\"", in: html) == "11")
        #expect(Self.text(after: "data-field=\"mcnemar-p\"", in: html) == "0.0227")
        #expect(Self.text(after: "data-field=\"fmr-upper-current\"", in: html) == "0.146 %")
        #expect(Self.text(after: "data-field=\"fmr-upper-candidate\"", in: html) == "0.131 %")
        #expect(Self.text(after: "data-field=\"fnmr-difference\"", in: html) == "-1.75 % (subject bootstrap -3.1 % to -0.4 %)")
        #expect(Self.text(after: "data-field=\"test-thresholds\"", in: html) == "0.41 → 0.47")
    }

    @Test("a verdict without figures, a cohort the comparison lacks, and a rolled-back release with its reason")
    func partialEvidence() throws {
        var rollout = Self.canary()
        rollout.pairs = [
            Self.pair(test: CalibrationPage.PairedTest(verdict: "insufficient_data", offersPromotion: false, reason: "12 genuine attempts", figures: nil)),
            Self.pair(test: nil),
        ]
        let gone = Self.pair(test: nil)
        rollout.pairs.append(CalibrationPage.PairedCohort(
            key: "cam-b/annex/backbone:adapter-2", cameraModel: "cam-b", site: "annex", currentModelVersion: gone.currentModelVersion,
            candidateModelVersion: gone.candidateModelVersion, genuine: 0, impostors: 0, subjects: 0, thresholds: gone.thresholds,
            detSVG: nil, test: nil))
        let html = try Self.render([rollout, Self.rolledBack()])
        let annex = try #require(html.components(separatedBy: "data-paired=\"cam-b/annex/backbone:adapter-2\"").last)
        #expect(annex.contains("No attempt of this cohort scored by both models is among the outcomes read now."))
        #expect(!annex.contains("data-field=\"genuine\"") && !annex.contains("A DET curve needs") && !annex.contains("<svg"))
        #expect(html.contains("<span class=\"flag\">insufficient_data</span> 12 genuine attempts"))
        #expect(!html.contains("data-field=\"mcnemar-b\""))
        #expect(html.contains("The stored comparison does not cover this cohort."))
        let rolledBack = try #require(html.components(separatedBy: "data-rollout=\"2\"").last)
        #expect(Self.text(after: "data-stage=\"rolled_back\"", in: rolledBack) == "rolled back")
        #expect(Self.text(after: "data-field=\"reason\"", in: rolledBack) == "automatic: FMR above its bound")
        #expect(rolledBack.contains("<span class=\"muted\">none promoted</span>"))
        #expect(rolledBack.contains("No attempt has been scored by this release"))
        #expect(!rolledBack.contains("data-field=\"fleet-approvals\"") && !rolledBack.contains("data-field=\"canary\""))
        #expect(try Self.render([]).contains("No model release is past candidate"))
    }

    @Test("values from the store are escaped in the rollout section and its chart")
    func escaping() throws {
        let hostile = "<img src=x onerror=alert(1)>"
        var rollout = Self.canary()
        rollout.modelVersion = hostile
        rollout.reason = "\"><script>alert(1)</script>"
        rollout.comparisonError = hostile
        rollout.pairs = [Self.pair(modelVersion: hostile, test: nil)]
        rollout.pairs[0].detSVG = Self.chart(candidateLabel: "candidate: " + hostile)
        let html = try Self.render([rollout])
        #expect(!html.contains(hostile) && !html.contains("<script>"))
        #expect(html.contains("&lt;img src=x onerror=alert(1)&gt;"))
    }
}

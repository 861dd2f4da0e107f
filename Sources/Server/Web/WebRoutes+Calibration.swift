import Calibration
import Charts
import FederationAPI
import FeedbackWire
import Storage
import ThresholdAPI
import WebPages

extension WebRoutes {
    /// Threshold releases with their workflow buttons; model rollouts with both models' DET
    /// curves on the same attempts; and, for the 50 cohorts of `cohortPage`, the score histograms
    /// and DET curve of all stored outcomes (their live statistics) with the released and the
    /// proposed threshold on them and the drift flags of the published release, with every
    /// flagged cohort of any page named.
    func calibrationPage(cohortPage: Int = 1) async throws -> CalibrationPage {
        // Every stored day, merged per cohort from the live statistics (O(cohorts × buckets)),
        // packed; each cohort is unpacked only while its charts are drawn, on every core. Read
        // while the releases are read and drift reads its two windows.
        async let history = store.scoreStatistics(firstDay: nil, lastDay: nil)
        let views = try await store.thresholdReleases().map(ThresholdService.view)
        let published = views.last { $0.state == ReleaseState.published.rawValue }
        let proposed = views.last {
            ($0.state == ReleaseState.computed.rawValue || $0.state == ReleaseState.approved.rawValue)
                && $0.version > (published?.version ?? 0)
        }
        let drift: ThresholdDriftView?
        do {
            if let published {
                drift = try await thresholds.drift(of: published.release)
            } else {
                drift = nil
            }
        } catch let problem as ProblemResponse where problem.details.status == 404 {
            drift = nil
        }
        let allStatistics = try await history.cohorts.sorted { $0.key < $1.key }
        let perPage = CalibrationPage.CohortPages.perPage
        let pageCount = max(1, (allStatistics.count + perPage - 1) / perPage)
        guard cohortPage <= pageCount else {
            throw ProblemResponse(.notFound, "page \(cohortPage) is past the last page of cohorts, \(pageCount)")
        }
        let statistics = Array(allStatistics[min((cohortPage - 1) * perPage, allStatistics.count)..<min(cohortPage * perPage, allStatistics.count)])
        let released = published.map { Dictionary($0.release.entries.map { ($0.cohort, $0) }, uniquingKeysWith: { first, _ in first }) }
        let proposedEntries = proposed.map { Dictionary($0.release.entries.map { ($0.cohort, $0) }, uniquingKeysWith: { first, _ in first }) }
        let reports = Dictionary((drift?.cohorts ?? []).map { ($0.cohort, $0.report) }, uniquingKeysWith: { first, _ in first })
        let sections = await ConcurrentSteps.map(statistics.count) { index in
            Result {
                try Self.cohortSection(statistics[index].key, statistics[index].value.unpackedScores(),
                                       thresholds: [(.released, published, released), (.proposed, proposed, proposedEntries)],
                                       report: reports[statistics[index].key] ?? nil)
            }
        }
        let cohorts = try sections.map { try $0.get() }
        var modelVersions: [Int: String] = [:]
        for release in try await federation.modelReleases() {
            modelVersions[release.version] = try ModelReleaseCoding.decode(release.payload).modelVersion
        }
        let storedRollouts = try await federation.modelRollouts()
        // The rollout charts pair both models' scores of the same attempts, which only outcome
        // rows hold. So that the page costs what the rollouts under way hold, not the whole
        // history, they are drawn for releases in shadow or canary only, from the attempts
        // since the first of those went into shadow, and only attempts another model also
        // scored are read.
        var outcomes: [CalibrationOutcome] = []
        if let since = Self.chartedSince(storedRollouts) {
            outcomes = try await store.calibrationOutcomes(from: since, to: nil, scoredInShadowOnly: true)
        }
        let rollouts = try Self.rolloutSection(rollouts: storedRollouts, modelVersions: modelVersions,
                                               outcomes: outcomes, published: published)
        // Everyone who may open the page may approve and publish: engineers and admins.
        return CalibrationPage(
            releases: views.reversed().map { view in
                CalibrationPage.Release(
                    version: view.version, state: view.state, policy: view.release.policy, cohorts: view.release.entries.count,
                    refused: view.refused.count, computed: "\(Format.time(view.computedAt)) by \(view.computedBy)",
                    approvals: "\(view.approvals.count) of \(view.requiredApprovals)" + (view.approvals.isEmpty ? "" : " (\(view.approvals.joined(separator: ", ")))"),
                    published: view.publishedAt.map(Format.time) ?? "", largestChange: view.largestChange.map(Format.score) ?? "",
                    canApprove: view.state == ReleaseState.computed.rawValue,
                    canPublish: view.state == ReleaseState.approved.rawValue)
            },
            cohorts: cohorts,
            cohortPages: Self.cohortPages(keys: allStatistics.map(\.key), page: cohortPage, pageCount: pageCount, reports: reports),
            rollouts: rollouts)
    }

    /// Where this page stands among the cohorts (sorted), and every cohort with a drift flag
    /// with the page that shows it.
    static func cohortPages(keys: [CohortKey], page: Int, pageCount: Int, reports: [CohortKey: DriftReport?]) -> CalibrationPage.CohortPages {
        let perPage = CalibrationPage.CohortPages.perPage
        let first = (page - 1) * perPage
        let link = { (page: Int) in "\(Page.calibration.path)?page=\(page)" }
        var flagged: [CalibrationPage.FlaggedCohort] = []
        for (index, key) in keys.enumerated() {
            guard let report = reports[key] ?? nil, !report.flags.isEmpty else { continue }
            flagged.append(.init(key: key.description, flags: report.flags.map(\.rawValue).sorted(), link: link(index / perPage + 1)))
        }
        return CalibrationPage.CohortPages(
            range: keys.isEmpty ? "No cohort" : "Cohorts \(first + 1)–\(min(first + perPage, keys.count)) of \(keys.count)",
            previous: page > 1 ? link(page - 1) : nil, next: page < pageCount ? link(page + 1) : nil, flagged: flagged)
    }

    /// One cohort's row of the page: its thresholds in the released and proposed releases with
    /// their rates, its drift flags, and its score histogram and DET curve with the thresholds on them.
    static func cohortSection(
        _ key: CohortKey, _ cohort: ScoreStatistics,
        thresholds: [(kind: ThresholdMarker.Kind, view: ThresholdReleaseView?, entries: [CohortKey: CohortThreshold]?)],
        report: DriftReport?
    ) throws -> CalibrationPage.Cohort {
        var markers: [ThresholdMarker] = []
        var rows: [CalibrationPage.Threshold] = []
        for (kind, view, entries) in thresholds {
            guard let view, let entry = entries?[key] else { continue }
            let rates = cohort.impostorCount > 0 && cohort.genuineCount > 0 ? try cohort.rates(at: entry.threshold) : nil
            rows.append(CalibrationPage.Threshold(
                kind: kind.rawValue, version: view.version, threshold: Format.score(entry.threshold),
                level: entry.fallbackLevel.rawValue,
                falseMatchRate: rates.map { Self.rate($0.falseMatch) } ?? "n/a",
                falseNonMatchRate: rates.map { Self.rate($0.falseNonMatch) } ?? "n/a"))
            markers.append(ThresholdMarker(kind: kind, label: "\(kind.rawValue) v\(view.version): \(Format.score(entry.threshold))",
                                           threshold: entry.threshold, falseMatchRate: rates?.falseMatch.lower ?? 0,
                                           falseNonMatchRate: rates?.falseNonMatch.lower ?? 0))
        }
        let title = "\(key.modelVersion) \(key.cameraModel) \(key.cohort)"
        var detSVG: String?
        if cohort.impostorCount > 0, cohort.genuineCount > 0 {
            let points = try cohort.rocPoints().map { DETChart.Point(falseMatchRate: $0.falseMatchRate, falseNonMatchRate: $0.falseNonMatchRate) }
            detSVG = DETChart(title: "DET curve, \(title)", points: points, markers: markers).svg()
        }
        return CalibrationPage.Cohort(
            key: key.description, modelVersion: key.modelVersion, cameraModel: key.cameraModel, site: key.cohort,
            genuine: cohort.genuineCount, impostors: cohort.impostorCount, thresholds: rows,
            driftFlags: (report?.flags ?? []).map(\.rawValue).sorted(), driftChecked: report != nil,
            histogramSVG: Self.histogram(cohort, title: "Scores, \(title)", markers: markers).svg(), detSVG: detSVG)
    }

    /// An exact rate as one figure, a binned one as its bounds.
    static func rate(_ bounds: RateBounds) -> String {
        bounds.isExact ? Format.percent(bounds.lower) : "\(Format.percent(bounds.lower)) – \(Format.percent(bounds.upper))"
    }

    /// At most 48 bars over the scores present (and the thresholds), merged from the
    /// statistics' fine grid.
    static func histogram(_ statistics: ScoreStatistics, title: String, markers: [ThresholdMarker]) -> ScoreHistogramChart {
        let grid = statistics.layout.grid
        let histograms = [statistics.genuine, statistics.impostor]
        var used = histograms.flatMap { histogram in histogram.counts.indices.filter { histogram.counts[$0] > 0 } }
        used += markers.map { grid.binIndex(of: $0.threshold) }
        let low = used.min() ?? 0, high = (used.max() ?? grid.binCount - 1) + 1
        let width = max(1, (high - low + 47) / 48)
        let barCount = (high - low + width - 1) / width
        func bars(of histogram: ScoreHistogram) -> [Int] {
            (0..<barCount).map { bar in
                let start = low + bar * width
                return histogram.counts[start..<min(start + width, grid.binCount)].reduce(0, +)
            }
        }
        return ScoreHistogramChart(
            title: title, lowerBound: grid.edge(low), upperBound: grid.edge(min(low + barCount * width, grid.binCount)),
            series: [.init(label: "genuine (\(statistics.genuineCount))", color: "#1f4e99", counts: bars(of: statistics.genuine)),
                     .init(label: "impostor (\(statistics.impostorCount))", color: "#b91c1c", counts: bars(of: statistics.impostor))],
            markers: markers)
    }
}

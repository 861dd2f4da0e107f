import Charts
import FederationAPI
import Storage
import WebPages

extension WebRoutes {
    /// Rounds with their participation, robust-aggregation rejections and the ε they spent
    /// against the budget (what engineers read), and the model releases with their privacy
    /// statements (which compliance officers read too).
    func federationPage(_ session: WebSessions.Session) async throws -> FederationPage {
        var roundsSection: FederationPage.Rounds?
        if session.may([.engineer]) {
            let list = try await rounds.list()
            roundsSection = FederationPage.Rounds(
                list: list.rounds.reversed().map { view in
                    let specification = view.round
                    let selected = specification.selectedDevices.count
                    return FederationPage.Round(
                        id: specification.roundID, state: view.state, opened: "\(Format.time(view.openedAt)) by \(view.openedBy)",
                        deadline: Format.time(specification.deadline), selected: selected, received: view.updatesReceived,
                        participation: selected == 0 ? "n/a" : Format.percent(Double(view.updatesReceived) / Double(selected)),
                        accepted: view.outcome?.accepted.count ?? 0,
                        rejections: (view.outcome?.rejected ?? []).map { "\($0.deviceID): \($0.reason)" },
                        adjusted: view.outcome?.adjusted.count ?? 0,
                        releaseVersion: view.outcome?.releaseVersion.map { "model v\($0)" } ?? (view.outcome?.reason ?? ""),
                        parameters: "C \(Format.decimal(specification.clippingNorm)), z \(Format.decimal(specification.noiseMultiplier)), "
                            + "q \(Format.decimal(specification.samplingRate)), quorum \(specification.minimumClients)")
                },
                epsilonSpent: Format.decimal(list.epsilonSpent), epsilonBudget: Format.decimal(list.epsilonBudget),
                delta: "\(list.delta)", accountant: list.accountant,
                budgetSVG: BudgetBar(spent: list.epsilonSpent, budget: list.epsilonBudget).svg())
        }
        let releases = try await federation.modelReleases().map(ModelReleaseService.summary).reversed().map { release in
            FederationPage.Release(
                version: release.version, roundID: release.roundID, modelVersion: release.modelVersion,
                published: Format.time(release.publishedAt),
                epsilon: "\(Format.decimal(release.privacy.epsilonRDP)) (RDP), \(Format.decimal(release.privacy.epsilonPLD)) (PLD)",
                cumulativeEpsilon: "\(Format.decimal(release.privacy.cumulativeEpsilonRDP)) (RDP), \(Format.decimal(release.privacy.cumulativeEpsilonPLD)) (PLD)",
                delta: "\(release.privacy.delta)", accepted: release.outcome.acceptedCount, rejected: release.outcome.rejectedCount)
        }
        return FederationPage(rounds: roundsSection, releases: releases)
    }
}

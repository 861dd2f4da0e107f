import ArgumentParser
import FederationAPI
import FederationCore
import FeedbackWire
import Foundation
import OperatorClient
import StrictJSON

/// `faceloop policy-search start|show|list|refine|propose`: the fleet's search for a cohort's
/// capture-normalisation policy.
struct PolicySearch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy-search",
        abstract: "Search for a cohort's capture-normalisation policy: candidate releases scored in shadow, ranked, refined, proposed.",
        subcommands: [Start.self, Show.self, List.self, Refine.self, Propose.self])

    static func printSearch(_ search: PolicySearchView) {
        print("policy search \(search.id): \(search.cameraModel) at \(search.site), \(search.state.rawValue), step \(search.step); "
              + "base release \(search.baseVersion) (\(search.baseModelVersion)), "
              + "each model at its exact threshold for FMR \(search.targetFMR) on the attempts both scored")
        if let leader = search.leader { print("  leader: release \(leader) (would pass the rollout, with a lower FNMR than the base)") }
        if let proposed = search.proposedVersion { print("  proposed: release \(proposed), in canary") }
        for candidate in search.candidates {
            let rank = candidate.rank.map { "#\($0)" } ?? "-"
            var line = "  \(rank) release \(candidate.version) [\(candidate.state.rawValue), step \(candidate.step)] "
                + "policy \(candidate.policyID) \(String(decoding: (try? WireJSON.encoder().encode(candidate.policy)) ?? Data(), as: UTF8.self)): "
                + "\(candidate.verdict.rawValue); \(candidate.genuineAttempts) genuine, \(candidate.impostorAttempts) impostor attempts"
            if let figures = candidate.figures {
                line += String(format: "; FNMR %.4f → %.4f (difference %+.4f, bounds %+.4f…%+.4f)", figures.currentFNMR, figures.candidateFNMR,
                               figures.fnmrDifference, figures.fnmrDifferenceLower, figures.fnmrDifferenceUpper)
            }
            print(line)
            if let needed = candidate.outcomesNeeded {
                print("      still needed: \(needed.genuine.map { "\($0) genuine" } ?? "genuine unknown yet"), \(needed.impostors) impostor attempts")
            }
            print("      \(candidate.reason)")
        }
    }

    /// The candidates file: a JSON array of policies, each checked as the server checks it.
    static func readCandidates(_ path: String) throws -> [NormalizationPolicy] {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
        guard let items = (try? JSONValue.parse([UInt8](data)))?.arrayValue else {
            throw ValidationError("\(path) must hold a JSON array of normalisation policies")
        }
        return try items.enumerated().map { index, item in
            do {
                return try WireJSON.decoder().decode(NormalizationPolicy.self, from: Data(item.serialized()))
            } catch let error as NormalizationPolicyError {
                throw ValidationError("\(path), candidate \(index): \(error.description)")
            } catch {
                throw ValidationError("\(path), candidate \(index): not a normalisation policy")
            }
        }
    }

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish one candidate release per policy (the base's adapter) and score them in shadow in one cohort.")
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("camera-model")) var cameraModel: String
        @Option var site: String
        @Option(name: .customLong("base-version"), help: "The release that decides in the cohort (default: that one; 0 is the backbone).")
        var baseVersion: Int?
        @Option(name: .customLong("target-fmr"), help: "Default: the server's rollout.target-fmr.") var targetFMR: Double?
        @Option(help: "A JSON file with an array of 1 to 8 policies (default: the server's first-round grid).") var candidates: String?
        @Flag var json = false

        func run() async throws {
            let policies = try candidates.map(PolicySearch.readCandidates)
            let client = try connection.client()
            let search = try await perform {
                try await client.startPolicySearch(PolicySearchRequest(cameraModel: cameraModel, site: site, baseVersion: baseVersion,
                                                                       targetFMR: targetFMR, candidates: policies))
            }
            if json { try printJSON(search); return }
            PolicySearch.printSearch(search)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A search's candidates ranked on the outcomes so far, with what each still needs for a decision.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var id: Int
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let search = try await perform { try await client.policySearch(id) }
            if json { try printJSON(search); return }
            PolicySearch.printSearch(search)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every policy search.")
        @OptionGroup var connection: ConnectionOptions
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let list = try await perform { try await client.policySearches() }
            if json { try printJSON(list); return }
            if list.searches.isEmpty { print("no policy search yet") }
            for search in list.searches {
                print("policy search \(search.id): \(search.cameraModel) at \(search.site), \(search.state.rawValue), step \(search.step), "
                      + "base release \(search.baseVersion), active candidates \(search.activeCandidates.map(String.init).joined(separator: ", "))"
                      + (search.proposedVersion.map { ", proposed release \($0)" } ?? ""))
            }
        }
    }

    struct Refine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep the better half of the ranked candidates and add a finer lattice around the best.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var id: Int
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let search = try await perform { try await client.refinePolicySearch(id) }
            if json { try printJSON(search); return }
            PolicySearch.printSearch(search)
        }
    }

    struct Propose: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move the leader (better or not worse than the base, with a lower FNMR) to canary in the cohort; the other candidates leave shadow.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var id: Int
        @Option(name: .customLong("device"), help: "A canary kiosk (repeat for several).") var devices: [String] = []
        @Option(help: "A share of the cohort's kiosks, 0–100, chosen by a stable hash of the device id.") var percent: Double?
        @Flag var json = false

        func validate() throws {
            guard devices.isEmpty != (percent == nil) else {
                throw ValidationError("Give exactly one of --device (repeatable) and --percent.")
            }
        }

        func run() async throws {
            let client = try connection.client()
            let search = try await perform {
                try await client.proposePolicySearch(id, PolicySearchProposal(devices: devices.isEmpty ? nil : devices, percent: percent))
            }
            if json { try printJSON(search); return }
            PolicySearch.printSearch(search)
        }
    }
}

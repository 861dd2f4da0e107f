import ArgumentParser
import Calibration
import FeedbackWire
import Foundation
import OperatorClient
import StrictJSON
import ThresholdAPI

struct Thresholds: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thresholds",
        abstract: "Compute, review, approve, publish and roll back threshold releases.",
        subcommands: [Compute.self, List.self, Show.self, Approve.self, Publish.self, Rollback.self, Pull.self, Drift.self])

    static func printView(_ view: ThresholdReleaseView, json: Bool) throws {
        if json { try printJSON(view); return }
        print("release \(view.version): \(view.state), policy \(view.release.policy), approvals \(view.approvals.count)/\(view.requiredApprovals)"
              + (view.largestChange.map { String(format: ", largest move %.4f", $0) } ?? ""))
        print("window \(RFC3339.format(Date(timeIntervalSince1970: TimeInterval(view.release.window.startUnixSeconds)))) … "
              + RFC3339.format(Date(timeIntervalSince1970: TimeInterval(view.release.window.endUnixSeconds))))
        print("COHORT (model/camera/site)".padding(toLength: 44, withPad: " ", startingAt: 0)
              + "THRESHOLD            FMR        FMR≤(95%)  IMPOSTORS  GENUINE  LEVEL")
        for e in view.release.entries {
            print(e.cohort.description.padding(toLength: 44, withPad: " ", startingAt: 0)
                  + "\(e.threshold)".padding(toLength: 21, withPad: " ", startingAt: 0)
                  + String(format: "%-11.3g%-11.3g", e.estimatedFMR, e.fmrUpperBound)
                  + String(e.impostorCount).leftPadded(9) + String(e.genuineCount).leftPadded(9) + "  " + e.fallbackLevel.rawValue)
        }
        for r in view.refused { print("refused \(r.cohort): \(r.reason)") }
    }

    struct Compute: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Compute a new release from the stored outcomes.")
        @OptionGroup var connection: ConnectionOptions
        @Option(name: .customLong("target-fmr"), help: "Target false match rate, e.g. 1e-3.") var targetFMR: Double
        @Option(help: "conservative (default) or exact-at-target.") var policy: String?
        @Option(name: .customLong("window-days"), help: "Only the last N days of outcomes.") var windowDays: Int?
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let view = try await perform {
                try await client.computeThresholds(.init(targetFMR: targetFMR, policy: policy, windowDays: windowDays))
            }
            try Thresholds.printView(view, json: json)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "All releases and their states.")
        @OptionGroup var connection: ConnectionOptions
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let list = try await perform { try await client.thresholdReleases() }
            if json { try printJSON(list); return }
            for v in list.releases {
                print("\(String(v.version).leftPadded(5))  \(v.state.padding(toLength: 12, withPad: " ", startingAt: 0))"
                      + "\(v.release.entries.count) cohorts, target \(v.release.entries.first?.targetFMR ?? 0), computed by \(v.computedBy)")
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One release in full.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var version: Int
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            try Thresholds.printView(try await perform { try await client.thresholdRelease(version) }, json: json)
        }
    }

    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve a computed release (a large move needs two approvers).")
        @OptionGroup var connection: ConnectionOptions
        @Argument var version: Int
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            try Thresholds.printView(try await perform { try await client.transitionThresholdRelease(version, "approve") }, json: json)
        }
    }

    struct Publish: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Sign and publish an approved release; kiosks pull it next.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var version: Int
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            try Thresholds.printView(try await perform { try await client.transitionThresholdRelease(version, "publish") }, json: json)
        }
    }

    struct Rollback: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Publish an earlier, superseded release again.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The version to restore.") var version: Int
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            try Thresholds.printView(try await perform { try await client.transitionThresholdRelease(version, "rollback") }, json: json)
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download the published release and verify its signature.")
        @OptionGroup var connection: ConnectionOptions
        @OptionGroup var download: VerifiedDownloadOptions
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let (envelope, release) = try await download.download({ try await client.currentThresholdEnvelope() }, endorsements: { try await client.releaseKeyEndorsements() }) {
                try ThresholdReleaseCoding.verify($0, publicKey: $1)
            }
            if json { try printJSON(release); return }
            print("release \(release.version) verified (key \(envelope.keyID)); \(release.entries.count) cohorts")
            for e in release.entries { print("  \(e.cohort): \(e.threshold)") }
        }
    }

    struct Drift: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "PSI, KS and false-match checks since the published release's window.")
        @OptionGroup var connection: ConnectionOptions
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let drift = try await perform { try await client.thresholdDrift() }
            if json { try printJSON(drift); return }
            print("since release \(drift.releaseVersion):")
            for c in drift.cohorts {
                let flags = c.report.map { $0.flags.map(\.rawValue).sorted().joined(separator: ", ") } ?? "no new data"
                print("  \(c.cohort): \(c.currentImpostors) impostors, \(c.currentGenuine) genuine; \(flags.isEmpty ? "stable" : flags)")
            }
        }
    }
}

struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tokens", abstract: "Issue, list and revoke bearer tokens (admin only).",
                                                    subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a token for an engineer, a compliance officer or another admin; it is shown once, only its hash is kept.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "engineer, compliance or admin") var role: String
        @Option(help: "Whose token it is; shown as the approver of releases.") var label: String
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let grant = try await perform { try await client.createToken(role: role, label: label) }
            if json { try printJSON(grant); return }
            print(grant.token)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens by id (the first 16 hex digits of their SHA-256), role and label.")
        @OptionGroup var connection: ConnectionOptions
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let tokens = try await perform { try await client.tokens() }
            if json { try printJSON(tokens); return }
            print("ID                ROLE        LABEL                     CREATED                   REVOKED")
            for token in tokens {
                print(token.id.padding(toLength: 18, withPad: " ", startingAt: 0) + token.role.padding(toLength: 12, withPad: " ", startingAt: 0)
                      + token.label.padding(toLength: 26, withPad: " ", startingAt: 0)
                      + RFC3339.format(token.createdAt).padding(toLength: 26, withPad: " ", startingAt: 0)
                      + (token.revokedAt.map(RFC3339.format) ?? "-"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token by its id; it opens nothing afterwards.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "The token's id from `faceloop tokens list`.") var id: String
        func run() async throws { try await ComplianceCommands.show(connection, "POST", "/v1/admin/tokens/\(id)/revoke") }
    }
}

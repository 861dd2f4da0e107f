import Agent
import ArgumentParser
import Calibration
import FaceVerification
import FeedbackWire
import Foundation

struct ThresholdsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "thresholds",
        abstract: "Pull the signed threshold release and show the threshold of this kiosk's cohort.",
        subcommands: [Pull.self, Show.self])

    struct CohortOptions: ParsableArguments {
        @Option(help: "This kiosk's site.") var site: String
        @Option(name: .customLong("camera-model"), help: "This kiosk's camera model.") var cameraModel: String
        @Option(name: .customLong("model-version"), help: "The face model version in use.") var modelVersion = FaceVerifier.baseModelVersion

        var key: CohortKey { CohortKey(modelVersion: modelVersion, cameraModel: cameraModel, cohort: site) }
    }

    static func report(_ agent: KioskAgent, _ release: ThresholdRelease, cohort: CohortKey, json: Bool) throws {
        let applied = try agent.applicableThreshold(in: release, cohort: cohort)
        if json {
            print(String(decoding: try WireJSON.encoder().encode(applied), as: UTF8.self))
        } else {
            print("release \(applied.releaseVersion) (signature verified): threshold \(applied.threshold) for \(cohort) "
                  + "at target FMR \(applied.targetFMR), \(applied.fallbackLevel.rawValue) level")
        }
    }

    struct Pull: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Download and verify the current release, then keep it.")
        @OptionGroup var directory: DataDirectoryOption
        @OptionGroup var cohort: CohortOptions
        @Flag var json = false

        func run() async throws {
            let agent = directory.agent
            do {
                try ThresholdsCommand.report(agent, try await agent.pullThresholds(), cohort: cohort.key, json: json)
            } catch let error as AgentError {
                throw ValidationError(error.description)
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Verify the kept release again and show this cohort's threshold.")
        @OptionGroup var directory: DataDirectoryOption
        @OptionGroup var cohort: CohortOptions
        @Flag var json = false

        func run() async throws {
            let agent = directory.agent
            do {
                try ThresholdsCommand.report(agent, try agent.storedThresholds(), cohort: cohort.key, json: json)
            } catch let error as AgentError {
                throw ValidationError(error.description)
            }
        }
    }
}

import Agent
import ArgumentParser
import FaceVerification
import FeedbackWire
import Foundation
import StrictJSON

struct EnrollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Create this kiosk's keys and obtain its client certificate with a one-time enrollment token.")

    @OptionGroup var directory: DataDirectoryOption
    @Option(help: "Server base URL, e.g. https://faceloop.example:8443") var server: String
    @Option(name: .customLong("device-id"), help: "The device id the token was issued for.") var deviceID: String
    @Option(help: "The one-time enrollment token from `faceloop devices enroll-token`.") var token: String
    @Option(name: .customLong("ca-file"), help: "The server's CA certificate (ca.crt), obtained out of band and pinned.") var caFile: String

    func run() async throws {
        do {
            let response = try await directory.agent.enroll(serverURL: server, deviceID: deviceID, token: token, caFile: caFile)
            print("enrolled \(response.deviceID); certificate valid until \(RFC3339.format(response.certificateNotAfter))")
        } catch let error as AgentError {
            throw ValidationError(error.description)
        }
    }
}

struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Queue match outcomes for upload: JSON on stdin (one object per line, or an array), or one outcome from flags.",
        discussion: "Each outcome must match $defs/MatchOutcome of schemas/outcome-batch.schema.json; event_id and attempted_at are filled in when absent.")

    @OptionGroup var directory: DataDirectoryOption
    @Flag(help: "Read outcomes as JSON from standard input.") var stdin = false
    @Option var score: Double?
    @Option var decision: MatchOutcome.Decision?
    @Option var label: MatchOutcome.Label?
    @Option(name: .customLong("label-source")) var labelSource: MatchOutcome.LabelSource = .none
    @Option var site: String?
    @Option(name: .customLong("camera-model")) var cameraModel: String?
    @Option(name: .customLong("tag")) var tags: [String] = []
    @Option(name: .customLong("model-version")) var modelVersion: String = FaceVerifier.baseModelVersion
    @Option(name: .customLong("threshold-version")) var thresholdVersion: String = "initial"
    @Option(name: .customLong("face-size")) var faceSize: Int = 0
    @Option var sharpness: Double = 0
    @Option var brightness: Double = 0
    @Option var liveness: Double?
    @Option(name: .customLong("subject-pseudonym")) var subjectPseudonym: String?
    @Option(name: .customLong("consent-ref")) var consentRef: String?

    func run() async throws {
        let agent = directory.agent
        let recorded: [MatchOutcome]
        do {
            if stdin {
                recorded = try agent.record(try Self.parseInput([UInt8](FileHandle.standardInput.readDataToEndOfFile())))
            } else {
                recorded = try agent.record([try outcomeFromFlags()])
            }
        } catch let error as AgentError {
            throw ValidationError(error.description)
        }
        print("queued \(recorded.count) outcome(s)")
    }

    func outcomeFromFlags() throws -> MatchOutcome {
        guard let score, let decision, let label, let site, let cameraModel, let subjectPseudonym, let consentRef else {
            throw ValidationError("give --stdin, or --score, --decision, --label, --site, --camera-model, --subject-pseudonym and --consent-ref")
        }
        return MatchOutcome(
            eventID: TimeOrderedUUID.make(), attemptedAt: Date(), modelVersion: modelVersion, thresholdVersion: thresholdVersion,
            cohort: .init(site: site, cameraModel: cameraModel, tags: tags), score: score, decision: decision, label: label,
            labelSource: labelSource, quality: .init(faceSizePx: faceSize, sharpness: sharpness, brightness: brightness),
            livenessScore: liveness, subject: .init(pseudonym: subjectPseudonym, consentRef: consentRef))
    }

    /// A JSON array, or JSON Lines.
    static func parseInput(_ bytes: [UInt8]) throws -> [JSONValue] {
        let trimmed = bytes.drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        if trimmed.first == UInt8(ascii: "[") {
            do {
                guard case let .array(items) = try JSONValue.parse(trimmed) else { return [] }
                return items
            } catch {
                throw ValidationError("standard input is not valid JSON: \(error)")
            }
        }
        var values: [JSONValue] = []
        for (number, line) in bytes.split(separator: 0x0A).enumerated() {
            guard line.contains(where: { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }) else { continue }
            do {
                values.append(try JSONValue.parse(line))
            } catch {
                throw ValidationError("line \(number + 1) is not valid JSON: \(error)")
            }
        }
        return values
    }
}

struct UploadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upload",
        abstract: "Seal queued outcomes into batches and upload them; exits non-zero if anything is left.")

    @OptionGroup var directory: DataDirectoryOption
    @Option(name: .customLong("batch-size"), help: "Outcomes per batch (1…1000).") var batchSize: Int = 100
    @Option(name: .customLong("max-attempts"), help: "Attempts per batch before giving up for now.") var maxAttempts: Int = 8
    @Flag var json = false

    func validate() throws {
        guard (1...1000).contains(batchSize) else { throw ValidationError("--batch-size must be within 1…1000") }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
    }

    func run() async throws {
        let report: KioskAgent.UploadReport
        do {
            report = try await directory.agent.upload(batchSize: batchSize, retry: .init(maximumAttempts: maxAttempts))
        } catch let error as AgentError {
            throw ValidationError(error.description)
        }
        if json {
            print(String(decoding: try WireJSON.encoder().encode(report), as: UTF8.self))
        } else {
            print("uploaded \(report.outcomesAcknowledged) outcome(s) in \(report.batchesAcknowledged) batch(es); "
                  + "\(report.retries) retries; \(report.batchesSetAside) set aside; \(report.remainingBatches) still queued")
            for withdrawal in report.withdrawals {
                print("withdrawal \(withdrawal.eventID): held \(Int(withdrawal.queueDelayMilliseconds.rounded())) ms on this kiosk, "
                      + "acknowledged \(Int(withdrawal.roundTripMilliseconds.rounded())) ms after sending")
            }
            if let error = report.error { print("stopped: \(error)") }
        }
        if report.error != nil || report.remainingBatches > 0 { throw ExitCode(2) }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Enrollment, the models in use and queue state.")

    @OptionGroup var directory: DataDirectoryOption
    @Flag var json = false

    func run() async throws {
        let agent = directory.agent
        let settings = try? agent.loadSettings()
        let status = try agent.openQueue().status()
        let models: AppliedModels?
        do {
            models = try agent.appliedModels()
        } catch let error as AgentError {
            throw ValidationError(error.description)
        }
        if json {
            var members: [(key: String, value: JSONValue)] = [
                ("enrolled", .bool(settings != nil)),
                ("device_id", settings.map { .string($0.deviceID) } ?? .null),
                ("server_url", settings.map { .string($0.serverURL) } ?? .null),
            ]
            // The state of the last `models sync`; null before the first, when the backbone decides.
            members.append(("models", try models.map { try JSONValue.parse([UInt8](try WireJSON.encoder().encode($0))) } ?? .null))
            let queue = try JSONValue.parse([UInt8](try WireJSON.encoder().encode(status)))
            members.append(("queue", queue))
            print(JSONValue.object(members).serializedString)
        } else {
            if let settings {
                print("device \(settings.deviceID) → \(settings.serverURL)")
            } else {
                print("not enrolled (\(agent.files.directory))")
            }
            if let models {
                print("deciding model:   \(models.active.model.name)")
                print("shadow model:     \(models.shadow?.name ?? "none")")
                print("models because:   \(models.reason)")
            } else {
                print("deciding model:   the backbone (\(FaceVerifier.baseModelVersion)); no `models sync` yet")
            }
            print("pending outcomes: \(status.pendingOutcomes)")
            print("sealed batches:   \(status.sealedBatches) (\(status.sealedOutcomes) outcomes)")
            print("acknowledged:     \(status.acknowledgedBatches) batches, \(status.acknowledgedOutcomes) outcomes")
            print("set aside:        \(status.rejectedBatches) batches")
            print("next sequence:    \(status.nextSequence)")
            if let last = status.lastAcknowledgedAt { print("last receipt:     \(RFC3339.format(last))") }
            if let error = status.lastError { print("last error:       \(error)") }
        }
    }
}

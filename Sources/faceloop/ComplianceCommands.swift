import ArgumentParser
import FeedbackWire
import Foundation
import OperatorClient
import StrictJSON

/// `faceloop compliance …`: what compliance officers review and manage. Each view prints the
/// server's JSON answer, so it can be filed or piped into other tools as it is.
struct ComplianceCommands: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compliance",
        abstract: "Consent records, withdrawals, erasures, retention, data-subject requests and the record of processing.",
        subcommands: [Jurisdiction.self, Site.self, Retention.self, ConsentText.self, Consent.self, Withdrawals.self, Reconsent.self,
                      Erasures.self, Pseudonym.self, Request.self, Requests.self, Subject.self, ProcessingRecord.self]
    )

    /// Sends one call and prints the JSON answer.
    static func show(_ connection: ConnectionOptions, _ method: String, _ path: String, body: JSONValue? = nil) async throws {
        let client = try connection.client()
        let bytes = try await perform { try await client.json(method, path, body: body) }
        print(String(decoding: bytes, as: UTF8.self))
    }

    static func query(_ pairs: [(String, String?)]) -> String {
        let items = pairs.compactMap { key, value in
            value.map { "\(key)=\($0.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed.subtracting(.init(charactersIn: "&=+"))) ?? $0)" }
        }
        return items.isEmpty ? "" : "?" + items.joined(separator: "&")
    }

    struct Jurisdiction: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List jurisdictions, or add/update one (admin).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Name of the jurisdiction to add or update; omit to list.") var name: String?
        @Option(name: .customLong("data-region"), help: "Where its data is held, e.g. eu-west.") var dataRegion: String?
        @Option(name: .customLong("biometric-law"), help: "bipa where Illinois BIPA applies.") var biometricLaw: String?
        @Option(name: .customLong("request-days"), help: "Days to answer a data-subject request (default 30).") var requestDays: Int?

        func run() async throws {
            guard let name else { return try await ComplianceCommands.show(connection, "GET", "/v1/compliance/jurisdictions") }
            guard let dataRegion else { throw ValidationError("give --data-region") }
            var members: [(key: String, value: JSONValue)] = [("name", .string(name)), ("data_region", .string(dataRegion))]
            if let biometricLaw { members.append(("biometric_law", .string(biometricLaw))) }
            if let requestDays { members.append(("request_days", .number(Double(requestDays)))) }
            try await ComplianceCommands.show(connection, "POST", "/v1/compliance/jurisdictions", body: .object(members))
        }
    }

    struct Site: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List sites, or assign one to a jurisdiction (admin).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Site to add or update; omit to list.") var site: String?
        @Option var jurisdiction: String?
        @Flag(name: .customLong("public-place"), help: "The site is a publicly accessible place.") var publicPlace = false

        func run() async throws {
            guard let site else { return try await ComplianceCommands.show(connection, "GET", "/v1/compliance/sites") }
            guard let jurisdiction else { throw ValidationError("give --jurisdiction") }
            try await ComplianceCommands.show(connection, "POST", "/v1/compliance/sites", body: .object([
                ("site", .string(site)), ("jurisdiction", .string(jurisdiction)), ("public_place", .bool(publicPlace)),
            ]))
        }
    }

    struct Retention: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Retention rules: list, set, show what is overdue, or sweep now.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "list, set, overdue or sweep.") var action = "list"
        @Option var jurisdiction: String?
        @Option var purpose: String?
        @Option var days: Int?

        func run() async throws {
            switch action {
            case "list": try await ComplianceCommands.show(connection, "GET", "/v1/compliance/retention")
            case "overdue": try await ComplianceCommands.show(connection, "GET", "/v1/compliance/retention/overdue")
            case "sweep": try await ComplianceCommands.show(connection, "POST", "/v1/compliance/retention/sweep")
            case "set":
                guard let jurisdiction, let purpose, let days else { throw ValidationError("set needs --jurisdiction, --purpose and --days") }
                try await ComplianceCommands.show(connection, "POST", "/v1/compliance/retention", body: .object([
                    ("jurisdiction", .string(jurisdiction)), ("purpose", .string(purpose)), ("days", .number(Double(days))),
                ]))
            default: throw ValidationError("the action is list, set, overdue or sweep")
            }
        }
    }

    struct ConsentText: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "text", abstract: "List consent texts, or register a new version.")
        @OptionGroup var connection: ConnectionOptions
        @Option var purpose: String?
        @Option var version: String?
        @Option var language = "en"
        @Option(help: "File with the exact text shown to subjects.") var file: String?
        @Option(name: .customLong("effective-at"), help: "RFC 3339 time from which it is shown (default now).") var effectiveAt: String?
        @Flag(help: "A material change: earlier consents need re-consent.") var material = false

        func run() async throws {
            guard let purpose, let version, let file else {
                return try await ComplianceCommands.show(connection, "GET", "/v1/compliance/consent-texts")
            }
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            guard let text = String(data: data, encoding: .utf8) else { throw ValidationError("\(file) is not UTF-8 text") }
            try await ComplianceCommands.show(connection, "POST", "/v1/compliance/consent-texts", body: .object([
                ("purpose", .string(purpose)), ("version", .string(version)), ("language", .string(language)), ("text", .string(text)),
                ("effective_at", .string(effectiveAt ?? RFC3339.format(Date()))), ("material", .bool(material)),
            ]))
        }
    }

    struct Consent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Consent records by subject, site, purpose and period.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Subject pseudonym.") var subject: String?
        @Option var site: String?
        @Option var purpose: String?
        @Option(help: "RFC 3339 start of the period.") var from: String?
        @Option(help: "RFC 3339 end of the period.") var to: String?

        func run() async throws {
            let query = ComplianceCommands.query([("subject", subject), ("site", site), ("purpose", purpose), ("from", from), ("to", to)])
            try await ComplianceCommands.show(connection, "GET", "/v1/compliance/consent-events" + query)
        }
    }

    struct Withdrawals: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Processing after withdrawal: every withdrawal, its time to block, and what was processed after it (must be 0).")
        @OptionGroup var connection: ConnectionOptions
        func run() async throws { try await ComplianceCommands.show(connection, "GET", "/v1/compliance/withdrawals") }
    }

    struct Reconsent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-consent coverage after each material text change.")
        @OptionGroup var connection: ConnectionOptions
        func run() async throws { try await ComplianceCommands.show(connection, "GET", "/v1/compliance/reconsent") }
    }

    struct Erasures: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List erasures, or print the signed receipt of one.")
        @OptionGroup var connection: ConnectionOptions
        @Option(help: "Erasure id whose signed receipt to print.") var receipt: String?
        func run() async throws {
            if let receipt {
                try await ComplianceCommands.show(connection, "GET", "/v1/compliance/erasures/\(receipt)/receipt")
            } else {
                try await ComplianceCommands.show(connection, "GET", "/v1/compliance/erasures")
            }
        }
    }

    struct Pseudonym: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The pseudonym of a subject id in a jurisdiction (the id is not stored), for answering a request.",
            discussion: "Made with the jurisdiction's current key; the answer names its version (key_version).")
        @OptionGroup var connection: ConnectionOptions
        @Option var jurisdiction = "default"
        @Argument(help: "The subject's id as the kiosks know it.") var subjectID: String
        func run() async throws {
            try await ComplianceCommands.show(connection, "POST", "/v1/compliance/pseudonyms", body: .object([
                ("jurisdiction", .string(jurisdiction)), ("subject_id", .string(subjectID)),
            ]))
        }
    }

    struct Request: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Answer a data-subject request: access (export) or erasure.")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "access or erasure.") var kind: String
        @Option(name: .customLong("subject-pseudonym")) var subjectPseudonym: String
        @Option var jurisdiction = "default"
        func run() async throws {
            try await ComplianceCommands.show(connection, "POST", "/v1/compliance/requests", body: .object([
                ("subject_pseudonym", .string(subjectPseudonym)), ("kind", .string(kind)), ("jurisdiction", .string(jurisdiction)),
            ]))
        }
    }

    struct Requests: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Data-subject requests with their due dates.")
        @OptionGroup var connection: ConnectionOptions
        func run() async throws { try await ComplianceCommands.show(connection, "GET", "/v1/compliance/requests") }
    }

    struct Subject: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Everything held about a pseudonym.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var pseudonym: String
        func run() async throws { try await ComplianceCommands.show(connection, "GET", "/v1/compliance/subjects/\(pseudonym)") }
    }

    struct ProcessingRecord: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "processing-record",
                                                        abstract: "The record of processing activities (GDPR art. 30).")
        @OptionGroup var connection: ConnectionOptions
        func run() async throws { try await ComplianceCommands.show(connection, "GET", "/v1/compliance/processing-record") }
    }
}

/// `faceloop audit checkpoint` and `faceloop audit export`: the server-side half of the audit
/// log review; `faceloop audit verify` checks the exported bundle offline.
struct AuditCheckpointCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "checkpoint", abstract: "Have the server sign a checkpoint of its audit log now.")
    @OptionGroup var connection: ConnectionOptions
    func run() async throws { try await ComplianceCommands.show(connection, "POST", "/v1/audit/checkpoints") }
}

struct AuditExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export",
                                                    abstract: "Write an audit bundle (entries, signed checkpoint, proofs) to a file.")
    @OptionGroup var connection: ConnectionOptions
    @Option(help: "Tree size of an earlier checkpoint to prove consistency with.") var since: Int?
    @Option(name: .shortAndLong, help: "Where to write the bundle.") var output: String

    func run() async throws {
        let client = try connection.client()
        let path = "/v1/audit/bundle" + (since.map { "?since=\($0)" } ?? "")
        let bytes = try await perform { try await client.json("GET", path) }
        guard FileManager.default.createFile(atPath: output, contents: Data(bytes)) else {
            throw ValidationError("cannot write \(output)")
        }
        print("wrote \(output) (\(bytes.count) bytes)")
    }
}

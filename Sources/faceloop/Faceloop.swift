import ArgumentParser
import Crypto
import FeedbackWire
import Foundation
import OperatorClient
import StrictJSON

@main
struct Faceloop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "faceloop",
        abstract: "FaceLoop for engineers and administrators.",
        discussion: "Connection settings: --server/$FACELOOP_SERVER, --token/$FACELOOP_TOKEN or --token-file, --ca-file/$FACELOOP_CA_FILE.",
        subcommands: [Devices.self, Outcomes.self, Thresholds.self, Tokens.self, ComplianceCommands.self, AuditCommands.self, SimulateCommands.self, Scores.self, Curves.self, Rounds.self, Models.self,
                      PolicySearch.self, Privacy.self, FederationTools.self, AdminCommands.self])
}

struct ConnectionOptions: ParsableArguments {
    @Option(help: "Server base URL (default $FACELOOP_SERVER or https://127.0.0.1:8443).") var server: String?
    @Option(help: "Bearer token (default $FACELOOP_TOKEN).") var token: String?
    @Option(name: .customLong("token-file"), help: "File holding the bearer token, e.g. data/admin.token.") var tokenFile: String?
    @Option(name: .customLong("ca-file"), help: "The server's CA certificate (default $FACELOOP_CA_FILE or data/ca.crt).") var caFile: String?

    func client() throws -> OperatorClient {
        let environment = ProcessInfo.processInfo.environment
        var resolvedToken = token ?? environment["FACELOOP_TOKEN"]
        if let tokenFile {
            guard let text = try? String(contentsOfFile: tokenFile, encoding: .utf8) else {
                throw ValidationError("cannot read the token file \(tokenFile)")
            }
            resolvedToken = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard let resolvedToken, !resolvedToken.isEmpty else {
            throw ValidationError("give --token, --token-file or $FACELOOP_TOKEN (the admin token is in the server's data/admin.token)")
        }
        return OperatorClient(serverURL: server ?? environment["FACELOOP_SERVER"] ?? "https://127.0.0.1:8443",
                              token: resolvedToken, caFile: caFile ?? environment["FACELOOP_CA_FILE"] ?? "data/ca.crt")
    }
}

/// Where `pull` commands find the server's release key, and where they keep what they verified.
struct VerifiedDownloadOptions: ParsableArguments {
    @Option(name: .customLong("release-key"), help: "The server's release-signing.pub (default data/release-signing.pub).")
    var releaseKey = "data/release-signing.pub"
    @Option(help: "Write the verified signed release here.") var out: String?

    func releaseKeyBytes() throws -> Data {
        guard let text = try? String(contentsOfFile: releaseKey, encoding: .utf8),
              let key = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw ValidationError("cannot read the release key \(releaseKey)")
        }
        return key
    }

    /// Fetches a signed release, verifies it with the pinned key or a later key that chains to
    /// it (the server's endorsements, fetched only when the release names another key), and
    /// keeps it (with `--out`) only once it verified.
    func download<Release>(_ fetch: () async throws -> SignedRelease, endorsements: () async throws -> [SignedRelease],
                           verify: (SignedRelease, Data) throws -> Release) async throws -> (envelope: SignedRelease, release: Release) {
        let pinned = try releaseKeyBytes()
        let envelope = try await perform(fetch)
        var key = pinned
        if let anchor = try? Curve25519.Signing.PublicKey(rawRepresentation: pinned), envelope.keyID != SignedRelease.keyID(of: anchor) {
            let history = try await perform(endorsements)
            do {
                let keys = try SigningKeyHistory.verify(pinned: anchor, endorsements: history, purpose: .releaseSigning)
                if let named = keys.first(where: { $0.keyID == envelope.keyID }) { key = named.publicKey.rawRepresentation }
            } catch {
                throw ValidationError("release refused: the server's release-key history does not chain from \(releaseKey): \(error)")
            }
        }
        let release: Release
        do {
            release = try verify(envelope, key)
        } catch {
            throw ValidationError("release refused: \(error)")
        }
        if let out { try WireJSON.encoder().encode(envelope).write(to: URL(fileURLWithPath: out)) }
        return (envelope, release)
    }
}

/// Runs a call and turns API refusals into a plain message and exit status 1.
func perform<T: Sendable>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let failure as OperatorClient.Failure {
        FileHandle.standardError.write(Data("error: \(failure)\n".utf8))
        throw ExitCode.failure
    }
}

func printJSON(_ value: some Encodable) throws {
    print(String(decoding: try WireJSON.encoder().encode(value), as: UTF8.self))
}

struct Devices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices", abstract: "Enroll, list, move and revoke kiosks.",
        subcommands: [EnrollToken.self, List.self, Move.self, Revoke.self])

    struct EnrollToken: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "enroll-token", abstract: "Issue a one-time enrollment token for a device id and the sites it serves.",
            discussion: "The kiosk is bound to the sites when it enrolls: its batches may name only them, and it gets only their "
                + "jurisdictions' pseudonymisation keys. Each site must be registered (faceloop compliance site).")
        @OptionGroup var connection: ConnectionOptions
        @Argument(help: "Device id, e.g. kiosk-001.") var deviceID: String
        @Option(name: .customLong("site"), help: "A registered site the kiosk serves; repeat for several.") var sites: [String] = []
        @Option(name: .customLong("ttl"), help: "Seconds until the token expires (default: server setting, 24 h).") var ttl: Int?
        @Flag var json = false

        func validate() throws {
            if sites.isEmpty { throw ValidationError("give the kiosk's site with --site (repeat it for several sites)") }
        }

        func run() async throws {
            let client = try connection.client()
            let token = try await perform { try await client.createEnrollmentToken(deviceID: deviceID, sites: sites, ttlSeconds: ttl) }
            if json { try printJSON(token); return }
            print(token.token)
            FileHandle.standardError.write(Data(("token for \(token.deviceID) at \(token.sites.joined(separator: ", ")), valid until "
                                                 + "\(RFC3339.format(token.expiresAt)); use it once with `faceloop-agent enroll`\n").utf8))
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "move", abstract: "Bind a kiosk to other sites (an audit-log entry).",
            discussion: "The sites given replace the ones the kiosk had; batches it sealed for its old sites are refused from now on "
                + "(site-mismatch) and wait in its queue.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var deviceID: String
        @Option(name: .customLong("site"), help: "A registered site the kiosk serves from now on; repeat for several.") var sites: [String] = []
        @Flag var json = false

        func validate() throws {
            if sites.isEmpty { throw ValidationError("give the kiosk's new site with --site (repeat it for several sites)") }
        }

        func run() async throws {
            let client = try connection.client()
            let summary = try await perform { try await client.move(deviceID: deviceID, sites: sites) }
            if json { try printJSON(summary); return }
            print("\(summary.deviceID) is enrolled for \(summary.sites.joined(separator: ", "))")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List enrolled kiosks.")
        @OptionGroup var connection: ConnectionOptions
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let list = try await perform { try await client.devices() }
            if json { try printJSON(list); return }
            print("DEVICE".padding(toLength: 24, withPad: " ", startingAt: 0) + "STATUS    BATCHES   EVENTS  LAST UPLOAD               SITES")
            for d in list.devices {
                let lastUpload = (d.lastUploadAt.map(RFC3339.format) ?? "never").padding(toLength: 26, withPad: " ", startingAt: 0)
                let sites = d.sites.isEmpty ? "none (faceloop devices move \(d.deviceID) --site …)" : d.sites.joined(separator: ",")
                print(d.deviceID.padding(toLength: 24, withPad: " ", startingAt: 0)
                      + d.status.rawValue.padding(toLength: 10, withPad: " ", startingAt: 0)
                      + String(d.batches).leftPadded(7) + String(d.events).leftPadded(9) + "  " + lastUpload + sites)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "revoke", abstract: "Revoke a kiosk: its uploads are refused from now on.")
        @OptionGroup var connection: ConnectionOptions
        @Argument var deviceID: String
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let summary = try await perform { try await client.revoke(deviceID: deviceID) }
            if json { try printJSON(summary); return }
            print("revoked \(summary.deviceID) at \(summary.revokedAt.map(RFC3339.format) ?? "now")")
        }
    }
}

struct Outcomes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "outcomes", abstract: "Look at stored outcomes.",
                                                    subcommands: [Stats.self])

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "stats", abstract: "Counts by device, cohort and label.")
        @OptionGroup var connection: ConnectionOptions
        @Flag var json = false

        func run() async throws {
            let client = try connection.client()
            let stats = try await perform { try await client.outcomeStats() }
            if json { try printJSON(stats); return }
            print("\(stats.totalEvents) outcomes in \(stats.totalBatches) batches")
            print("labels: genuine \(stats.byLabel.genuine), impostor \(stats.byLabel.impostor), unknown \(stats.byLabel.unknown)")
            print("by device:")
            for d in stats.byDevice { print("  \(d.deviceID.padding(toLength: 24, withPad: " ", startingAt: 0))\(String(d.events).leftPadded(9))") }
            print("by cohort (site / camera model):")
            for c in stats.byCohort {
                print("  \((c.site + " / " + c.cameraModel).padding(toLength: 40, withPad: " ", startingAt: 0))\(String(c.events).leftPadded(9))")
            }
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String { String(repeating: " ", count: max(0, width - count)) + self }
}

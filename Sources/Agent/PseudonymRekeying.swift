import AsyncHTTPClient
import Compliance
import FeedbackWire
import Foundation
import GRDB
import StrictJSON

/// How many of the queue's records a re-keying rewrote.
public struct QueueRekeyCount: Sendable, Equatable, Codable {
    public var pendingOutcomes = 0
    public var pendingConsentEvents = 0
    public var ledgerEvents = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case pendingOutcomes = "pending_outcomes", pendingConsentEvents = "pending_consent_events", ledgerEvents = "ledger_events"
    }
}

extension UploadQueue {
    /// Moves the queue's records from each old pseudonym (under `fromVersion`) to its new one
    /// (under `toVersion`): pending outcomes and consent events, and the kiosk's own consent
    /// ledger. Sealed batches are left as they are: their bytes are what the kiosk signs, and
    /// the agent sends them before it re-keys (`KioskAgent.rekeyPseudonyms`).
    public func rekey(_ newPseudonyms: [String: String], fromVersion: Int, toVersion: Int) throws -> QueueRekeyCount {
        try pool.write { db in
            var count = QueueRekeyCount()
            for row in try Row.fetchAll(db, sql: "SELECT position, outcome FROM pending_outcomes") {
                var outcome = try MatchOutcome(validated: try JSONValue.parse(row["outcome"] as String))
                guard outcome.subject.keyVersion == fromVersion, let new = newPseudonyms[outcome.subject.pseudonym] else { continue }
                outcome.subject.pseudonym = new
                outcome.subject.keyVersion = toVersion
                try db.execute(sql: "UPDATE pending_outcomes SET outcome = ? WHERE position = ?",
                               arguments: [outcome.json.serializedString, row["position"] as Int64])
                count.pendingOutcomes += 1
            }
            for row in try Row.fetchAll(db, sql: "SELECT position, event FROM pending_consent") {
                var event = try ConsentEvent(validated: try JSONValue.parse(row["event"] as String))
                guard event.keyVersion == fromVersion, let new = newPseudonyms[event.pseudonym] else { continue }
                event.pseudonym = new
                event.keyVersion = toVersion
                try db.execute(sql: "UPDATE pending_consent SET event = ? WHERE position = ?",
                               arguments: [event.json.serializedString, row["position"] as Int64])
                count.pendingConsentEvents += 1
            }
            // The ledger keeps no key version: pseudonyms under two keys never coincide.
            for (old, new) in newPseudonyms {
                try db.execute(sql: "UPDATE consent_ledger SET subject_pseudonym = ? WHERE subject_pseudonym = ?", arguments: [new, old])
                count.ledgerEvents += db.changesCount
            }
            return count
        }
    }
}

/// What `faceloop-agent pseudonyms rekey` did: on the server and in the kiosk's queue.
public struct PseudonymRekeyReport: Sendable, Equatable, Codable {
    public var jurisdiction: String
    public var fromVersion: Int
    public var toVersion: Int
    public var subjects: Int
    public var server: [PseudonymRekeyAnswer]
    public var queue: QueueRekeyCount

    enum CodingKeys: String, CodingKey {
        case jurisdiction, fromVersion = "from_version", toVersion = "to_version", subjects, server, queue
    }
}

extension KioskAgent {
    /// Re-keys the subjects whose raw ids the kiosk's software hands over after a rotation of
    /// the site's jurisdiction key. It first sends the batches already sealed (signed bytes
    /// under the old pseudonyms cannot be rewritten) and refuses while any is left; then it
    /// fetches both keys, posts the pairs of old and new pseudonyms in chunks, and rewrites
    /// the queue. The raw ids stay on the kiosk. Running it again is harmless: a pair whose
    /// old pseudonym is stored nowhere any more changes nothing.
    public func rekeyPseudonyms(site: String, subjectIDs: [String], fromVersion: Int? = nil) async throws -> PseudonymRekeyReport {
        let ids = subjectIDs.map(Pseudonymizer.normalise).filter { !$0.isEmpty }
        guard !ids.isEmpty else { throw AgentError.invalidOutcome("no subject ids on standard input (one a line)") }
        let sent = try await upload(sealingPending: false)
        guard sent.remainingBatches == 0 else {
            throw AgentError.server("\(sent.remainingBatches) sealed batch(es) are not yet acknowledged (\(sent.error ?? "not sent")); "
                                    + "they carry the old pseudonyms and cannot be rewritten: upload them, then re-key")
        }
        let settings = try loadSettings()
        let queue = try openQueue()
        return try await ServerTLS.withClient(try clientConfiguration()) { client in
            let current = try await fetchPseudonymKey(client: client, settings: settings, site: site, version: nil)
            let from = fromVersion ?? current.version - 1
            guard from >= 1, from < current.version else {
                throw AgentError.invalidOutcome("the key of \(current.jurisdiction) is at version \(current.version); "
                                                + "there is no earlier version \(from) to re-key from")
            }
            let old = try await fetchPseudonymKey(client: client, settings: settings, site: site, version: from)
            let oldPseudonymizer = Pseudonymizer(key: try Self.keyBytes(old))
            let newPseudonymizer = Pseudonymizer(key: try Self.keyBytes(current))
            var pairs: [String: String] = [:]
            for id in ids { pairs[oldPseudonymizer.pseudonym(for: id)] = newPseudonymizer.pseudonym(for: id) }
            let ordered = pairs.sorted { $0.key < $1.key }.map { PseudonymRekeyRequest.Pair(from: $0.key, to: $0.value) }
            var answers: [PseudonymRekeyAnswer] = []
            for start in stride(from: 0, to: ordered.count, by: PseudonymRekeyRequest.maximumPairs) {
                let chunk = Array(ordered[start..<min(start + PseudonymRekeyRequest.maximumPairs, ordered.count)])
                let request = PseudonymRekeyRequest(jurisdiction: current.jurisdiction, fromVersion: from, toVersion: current.version,
                                                    pairs: chunk)
                let (status, body) = try await ServerTLS.post(client: client, url: settings.serverURL + "/v1/kiosk/pseudonym-rekeys",
                                                              headers: ["content-type": "application/json"],
                                                              body: [UInt8](try WireJSON.encoder().encode(request)))
                guard status == 200 else { throw ServerTLS.refusal(status: status, body: body) }
                answers.append(try WireJSON.decoder().decode(PseudonymRekeyAnswer.self, from: Data(body)))
            }
            // After the server: should this fail, a second run finds the server done and rewrites the queue.
            let rewritten = try queue.rekey(pairs, fromVersion: from, toVersion: current.version)
            return PseudonymRekeyReport(jurisdiction: current.jurisdiction, fromVersion: from, toVersion: current.version,
                                        subjects: pairs.count, server: answers, queue: rewritten)
        }
    }

    /// The key of the site's jurisdiction: the current version, or `version`.
    func fetchPseudonymKey(client: HTTPClient, settings: AgentSettings, site: String, version: Int?) async throws -> KioskPseudonymKey {
        let query = "site=\(Self.queryValue(site))" + (version.map { "&version=\($0)" } ?? "")
        let (status, body) = try await ServerTLS.get(client: client, url: settings.serverURL + "/v1/kiosk/pseudonym-key?" + query)
        guard status == 200 else { throw ServerTLS.refusal(status: status, body: body) }
        let key: KioskPseudonymKey
        do {
            key = try WireJSON.decoder().decode(KioskPseudonymKey.self, from: Data(body))
        } catch {
            throw AgentError.server("unreadable pseudonym key: \(error)")
        }
        guard key.site == site, version == nil || key.version == version else {
            throw AgentError.server("asked for the key of \(site)\(version.map { " version \($0)" } ?? ""), got \(key.site) version \(key.version)")
        }
        return key
    }

    static func keyBytes(_ key: KioskPseudonymKey) throws -> [UInt8] {
        guard let bytes = Data(base64Encoded: key.key), bytes.count == 32 else {
            throw AgentError.server("the key of \(key.jurisdiction) version \(key.version) is not 32 bytes of base64")
        }
        return [UInt8](bytes)
    }
}

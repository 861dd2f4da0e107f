import Compliance
import FeedbackWire
import Foundation
import Storage

/// Versioned pseudonymisation keys: a kiosk fetches the current version (or an older one to
/// re-key from), an administrator rotates, and a kiosk re-keys what is stored under an old
/// version by pairs of pseudonyms it computed itself. Raw subject ids never reach the server.
extension ComplianceService {
    /// The key of the jurisdiction that `site` belongs to, for a kiosk enrolled for `site`
    /// only: the current version, or `version` when it names one.
    func pseudonymKey(site: String?, version: String?, askedBy device: DeviceRecord) async throws -> KioskPseudonymKey {
        guard let site, !site.isEmpty else { throw ProblemResponse(.invalidRequest, "name the kiosk's site: ?site=…") }
        try KioskSites.require([site], of: device)
        guard let jurisdiction = try await compliance.jurisdiction(ofSite: site) else {
            throw ProblemResponse(.notFound, "no jurisdiction for site \(site)")
        }
        guard let version, !version.isEmpty else {
            return KioskPseudonymKey(site: site, jurisdiction: jurisdiction.name, version: jurisdiction.keyVersion,
                                     key: Data(jurisdiction.pseudonymKey).base64EncodedString())
        }
        guard let number = Int(version), number >= 1 else { throw ProblemResponse(.invalidRequest, "version must be a positive integer") }
        guard let key = try await compliance.jurisdictionKey(jurisdiction: jurisdiction.name, version: number) else {
            throw ProblemResponse(.notFound, "jurisdiction \(jurisdiction.name) has key versions 1 to \(jurisdiction.keyVersion), not \(number)")
        }
        return KioskPseudonymKey(site: site, jurisdiction: jurisdiction.name, version: key.version,
                                 key: Data(key.key).base64EncodedString())
    }

    /// A new key version for the jurisdiction, current from now on; the old versions are kept
    /// for re-keying. The answer never shows the key.
    func rotatePseudonymKey(jurisdiction name: String, by caller: APITokenRecord) async throws -> PseudonymKeyRotation {
        guard let key = try await compliance.rotatePseudonymKey(jurisdiction: name, key: Pseudonymizer.generateKey(),
                                                                 actor: caller.actor, at: now()) else {
            throw ProblemResponse(.notFound, "no jurisdiction \(name)")
        }
        return PseudonymKeyRotation(jurisdiction: key.jurisdiction, version: key.version, createdAt: key.createdAt)
    }

    /// Rewrites what is stored under the pairs' old pseudonyms to their new ones, for a kiosk
    /// enrolled for a site of that jurisdiction.
    func rekeyPseudonyms(_ request: PseudonymRekeyRequest, by device: DeviceRecord) async throws -> PseudonymRekeyAnswer {
        guard (1...PseudonymRekeyRequest.maximumPairs).contains(request.pairs.count) else {
            throw ProblemResponse(.invalidRequest, "send 1 to \(PseudonymRekeyRequest.maximumPairs) pairs a request")
        }
        var seen = Set<String>()
        for (index, pair) in request.pairs.enumerated() {
            _ = try Self.pseudonym(pair.from)
            _ = try Self.pseudonym(pair.to)
            guard pair.from != pair.to, seen.insert(pair.from).inserted, seen.insert(pair.to).inserted else {
                throw ProblemResponse(.invalidRequest, "pairs/\(index): every pseudonym appears once, and from differs from to")
            }
        }
        let jurisdiction = try await jurisdiction(named: request.jurisdiction)
        var ownsSiteThere = false
        for site in device.sites.sorted() where try await compliance.jurisdiction(ofSite: site)?.name == jurisdiction.name {
            ownsSiteThere = true
            break
        }
        guard ownsSiteThere else {
            throw ProblemResponse(.siteMismatch, "\(device.deviceID) is enrolled for no site of jurisdiction \(jurisdiction.name)")
        }
        guard request.fromVersion >= 1, request.fromVersion < request.toVersion, request.toVersion <= jurisdiction.keyVersion else {
            throw ProblemResponse(.invalidRequest, "from_version must be below to_version, and both within "
                                  + "\(jurisdiction.name)'s key versions 1 to \(jurisdiction.keyVersion)")
        }
        var rekey = request
        rekey.jurisdiction = jurisdiction.name
        let result = try await compliance.rekeyPseudonyms(rekey, deviceID: device.deviceID, at: now())
        return PseudonymRekeyAnswer(jurisdiction: jurisdiction.name, fromVersion: request.fromVersion, toVersion: request.toVersion,
                                    pairs: result.pairs, consentEvents: result.consentEvents, outcomes: result.outcomes,
                                    erasures: result.erasures, subjectRequests: result.subjectRequests)
    }
}

import FeedbackWire
import Foundation
@testable import Server
import Storage
import TestSupport
import Testing

/// The `site-mismatch` refusal as kiosks and admins read it, for kiosks read from a real store:
/// one bound to a site, and one bound to none (enrolled with a token from before sites were bound).
@Suite("Kiosk sites")
struct KioskSitesTests {
    static let now = Date(timeIntervalSince1970: 1_790_000_000)

    /// A store with kiosk-a enrolled for branch-a and kiosk-u for no site.
    static func kiosks() async throws -> (bound: DeviceRecord, unbound: DeviceRecord, cleanup: () -> Void) {
        let directory = try temporaryDirectory("kiosk-sites")
        let store = try SQLiteStore(path: (directory as NSString).appendingPathComponent("store.sqlite"))
        #expect(try await store.upsertSite(SiteRecord(site: "branch-a", jurisdiction: JurisdictionRecord.defaultName, publicPlace: false),
                                           actor: "test", at: now))
        for (id, sites) in [("kiosk-a", ["branch-a"]), ("kiosk-u", [])] {
            try await store.addEnrollmentToken(StoredEnrollmentToken(sha256: "t-\(id)", deviceID: id, createdAt: now,
                                                                     expiresAt: now.addingTimeInterval(60), sites: sites))
            #expect(try await store.redeemEnrollmentToken(sha256: "t-\(id)", device: NewDevice(
                deviceID: id, signingKey: Data(repeating: 1, count: 32), certificateDER: Data([0x30, 0x00]), certificateFingerprint: "fp-\(id)",
                certificateSerial: "01", certificateNotAfter: now.addingTimeInterval(86_400)), now: now) == .enrolled)
        }
        return (try #require(try await store.device(id: "kiosk-a")), try #require(try await store.device(id: "kiosk-u")),
                { try? FileManager.default.removeItem(atPath: directory) })
    }

    static func refusal(_ body: () throws -> Void) -> ProblemResponse? {
        do {
            try body()
            return nil
        } catch {
            return error as? ProblemResponse
        }
    }

    @Test("a kiosk may name its own sites; another is refused with site-mismatch (403) naming the admin's command to move it")
    func bound() async throws {
        let (kiosk, _, cleanup) = try await Self.kiosks()
        defer { cleanup() }
        #expect(Self.refusal { try KioskSites.require(["branch-a"], of: kiosk) } == nil)
        let refused = try #require(Self.refusal { try KioskSites.require(["branch-a", "branch-b"], of: kiosk) })
        #expect(refused.type == .siteMismatch && refused.details.status == 403)
        let detail = refused.details.detail ?? ""
        #expect(detail.contains("kiosk-a is enrolled for branch-a, not branch-b"), "\(detail)")
        #expect(detail.contains("`faceloop devices move kiosk-a --site branch-b`"), "\(detail)")
    }

    @Test("a kiosk bound to no site is refused every site, and the detail tells the admin how to bind it")
    func unbound() async throws {
        let (_, kiosk, cleanup) = try await Self.kiosks()
        defer { cleanup() }
        #expect(kiosk.sites.isEmpty)
        let refused = try #require(Self.refusal { try KioskSites.require(["branch-a"], of: kiosk) })
        #expect(refused.type == .siteMismatch)
        let detail = refused.details.detail ?? ""
        #expect(detail.contains("kiosk-u is bound to no site"), "\(detail)")
        #expect(detail.contains("`faceloop devices move kiosk-u --site SITE`"), "\(detail)")
    }

    @Test("a batch's first foreign site is pointed at, in its consent events before its outcomes")
    func batchPointer() async throws {
        let (kiosk, _, cleanup) = try await Self.kiosks()
        defer { cleanup() }
        let own = SampleBatch.outcome(cohort: .init(site: "branch-a", cameraModel: "cam-1"))
        let foreign = SampleBatch.outcome(cohort: .init(site: "branch-b", cameraModel: "cam-1"))
        let consent = ConsentEvent(eventID: UUID(), occurredAt: Self.now, pseudonym: String(repeating: "a", count: 64), purpose: "threshold-calibration",
                                   kind: .grant, method: .touch, site: "branch-c", textVersion: "v1", textSHA256: String(repeating: "0", count: 64))
        var batch = OutcomeBatch(deviceID: "kiosk-a", sequence: 1, createdAt: Self.now, outcomes: [own, foreign])
        #expect(batch.firstSite(outside: kiosk.sites)?.pointer == "/outcomes/1/cohort/site")
        batch.consentEvents = [consent]
        #expect(batch.firstSite(outside: kiosk.sites)?.pointer == "/consent_events/0/site")
        #expect(batch.sites.subtracting(kiosk.sites) == ["branch-b", "branch-c"])
        batch = OutcomeBatch(deviceID: "kiosk-a", sequence: 1, createdAt: Self.now, outcomes: [own])
        #expect(batch.firstSite(outside: kiosk.sites) == nil)
    }
}

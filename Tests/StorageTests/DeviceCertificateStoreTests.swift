import AuditLog
import Compliance
import FeedbackWire
import Foundation
import PostgresTestSupport
@testable import Storage
import StrictJSON
import TestSupport
import Testing

/// Renewed device certificates: every certificate a kiosk was issued is kept and recognises
/// it, a renewal is recorded with its nonce and audit entry in one transaction, a revoked
/// kiosk cannot renew, and an upgraded store starts with each kiosk's enrollment certificate.
@Suite("Device certificates")
struct DeviceCertificateStoreTests {
    typealias Fixture = FeedbackStoreTests
    static let now = Fixture.now

    static func renewal(_ id: String, presented: String, fingerprint: String, nonce: String, at time: Date = now) -> DeviceCertificateRenewal {
        DeviceCertificateRenewal(deviceID: id, presentedFingerprint: presented,
                                 certificate: NewDeviceCertificate(der: Data([0x30, 0x01, 0x00]), fingerprint: fingerprint, serial: "02",
                                                                   notAfter: time.addingTimeInterval(397 * 86_400)),
                                 nonce: nonce, renewedAt: time)
    }

    @Test("a renewal keeps the old certificate, makes the new one current, consumes its nonce and logs both fingerprints",
          arguments: StoreBackEnd.available)
    func renewal(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        try await Fixture.enrolled(store, "kiosk-2")
        #expect(try await store.deviceCertificates(deviceID: "kiosk-1").map(\.certificate.fingerprint) == ["fp-kiosk-1"],
                "enrollment records its certificate")
        let before = try await DeviceSiteStoreTests.entries(store).count
        let later = Self.now.addingTimeInterval(265 * 86_400)
        #expect(try await store.renewDeviceCertificate(Self.renewal("kiosk-1", presented: "fp-kiosk-1", fingerprint: "fp-new", nonce: "n1",
                                                                    at: later)) == .renewed)

        let certificates = try await store.deviceCertificates(deviceID: "kiosk-1")
        #expect(certificates.map(\.certificate.fingerprint) == ["fp-kiosk-1", "fp-new"])
        #expect(certificates.last?.issuedAt == later)
        #expect(try await store.device(withCertificateFingerprint: "fp-kiosk-1")?.deviceID == "kiosk-1", "the old one still recognises the kiosk")
        let current = try await store.device(withCertificateFingerprint: "fp-new")
        #expect(current?.deviceID == "kiosk-1")
        #expect(current?.certificateFingerprint == "fp-new", "the devices row holds the newest")
        #expect(try await store.deviceSummaries().first?.certificateSerial == "02")

        let added = Array(try await DeviceSiteStoreTests.entries(store).dropFirst(before))
        #expect(added.map(\.kind) == [.deviceCertificateRenewed])
        #expect(added.first?.actor == "device:kiosk-1")
        #expect(DeviceSiteStoreTests.detail(added.first, "old_fingerprint") == .string("fp-kiosk-1"))
        #expect(DeviceSiteStoreTests.detail(added.first, "new_fingerprint") == .string("fp-new"))
        #expect(DeviceSiteStoreTests.detail(added.first, "not_after") == .string(RFC3339.format(later.addingTimeInterval(397 * 86_400))))

        // The same nonce again renews nothing; a kiosk presenting another kiosk's certificate is refused.
        #expect(try await store.renewDeviceCertificate(Self.renewal("kiosk-1", presented: "fp-new", fingerprint: "fp-replay", nonce: "n1"))
                == .nonceReplayed)
        await #expect(throws: DeviceCertificateRenewalError.foreignCertificate(deviceID: "kiosk-1", fingerprint: "fp-kiosk-2")) {
            try await store.renewDeviceCertificate(Self.renewal("kiosk-1", presented: "fp-kiosk-2", fingerprint: "fp-stolen", nonce: "n2"))
        }
        await #expect(throws: DeviceCertificateRenewalError.unknownDevice("kiosk-9")) {
            try await store.renewDeviceCertificate(Self.renewal("kiosk-9", presented: "fp-kiosk-1", fingerprint: "fp-9", nonce: "n3"))
        }
        #expect(try await store.deviceCertificates(deviceID: "kiosk-1").count == 2)
        #expect(try await DeviceSiteStoreTests.entries(store).count == before + 1, "refusals log nothing")
    }

    @Test("a revoked kiosk cannot renew, and nothing of the attempt is stored (not even its nonce)", arguments: StoreBackEnd.available)
    func revoked(backEnd: StoreBackEnd) async throws {
        let (store, cleanup) = try await backEnd.open()
        defer { cleanup() }
        try await Fixture.enrolled(store, "kiosk-1")
        #expect(try await store.revokeDevice(id: "kiosk-1", at: Self.now, actor: "test"))
        let before = try await DeviceSiteStoreTests.entries(store).count
        await #expect(throws: DeviceCertificateRenewalError.deviceRevoked("kiosk-1")) {
            try await store.renewDeviceCertificate(Self.renewal("kiosk-1", presented: "fp-kiosk-1", fingerprint: "fp-new", nonce: "n1"))
        }
        #expect(try await store.deviceCertificates(deviceID: "kiosk-1").map(\.certificate.fingerprint) == ["fp-kiosk-1"])
        #expect(try await store.device(withCertificateFingerprint: "fp-new") == nil)
        #expect(try await DeviceSiteStoreTests.entries(store).count == before)
        #expect(try await store.purgeNonces(seenBefore: .distantFuture) == 0, "the refused request's nonce was not kept")
    }

    @Test("an upgraded store holds each enrolled kiosk's certificate, issued when it was enrolled", arguments: StoreBackEnd.available)
    func upgrade(backEnd: StoreBackEnd) async throws {
        let undo = ["DROP TABLE device_certificates"]
        let migrated: any FeedbackStore
        var shutdown: (() async -> Void)?
        var directory: String?
        switch backEnd {
        case .sqlite:
            let path = (try temporaryDirectory("store") as NSString).appendingPathComponent("store.sqlite")
            directory = (path as NSString).deletingLastPathComponent
            do {
                let store = try SQLiteStore(path: path)
                for id in ["kiosk-1", "kiosk-2"] { try await Fixture.enrolled(store, id) }
                try await store.pool.write { db in
                    for statement in undo { try db.execute(sql: statement) }
                    try db.execute(sql: "DELETE FROM grdb_migrations WHERE identifier = 'v11-device-certificates'")
                }
            }
            migrated = try SQLiteStore(path: path)
        case .postgres:
            let url = try await PostgresTestDatabase.create()
            let store = try await PostgresStore(url: url, maximumConnections: 2)
            for id in ["kiosk-1", "kiosk-2"] { try await Fixture.enrolled(store, id) }
            await store.shutdown()
            try await PostgresTestDatabase.execute(undo + ["DELETE FROM schema_migrations WHERE name = 'v8-device-certificates'"], on: url)
            let reopened = try await PostgresStore(url: url, maximumConnections: 2)
            migrated = reopened
            shutdown = { await reopened.shutdown() }
        }
        defer { if let directory { try? FileManager.default.removeItem(atPath: directory) } }
        for id in ["kiosk-1", "kiosk-2"] {
            let certificates = try await migrated.deviceCertificates(deviceID: id)
            #expect(certificates == [StoredDeviceCertificate(deviceID: id, certificate: NewDeviceCertificate(Fixture.device(id)), issuedAt: Self.now)])
            #expect(try await migrated.device(withCertificateFingerprint: "fp-\(id)")?.deviceID == id)
        }
        #expect(try await migrated.renewDeviceCertificate(Self.renewal("kiosk-1", presented: "fp-kiosk-1", fingerprint: "fp-new", nonce: "n1"))
                == .renewed)
        await shutdown?()
    }
}

import FeedbackWire
import Foundation
import StrictJSON

/// One certificate issued to a kiosk, as the store keeps it (`device_certificates`).
public struct NewDeviceCertificate: Sendable, Equatable {
    public var der: Data
    /// SHA-256 of `der`, lowercase hex.
    public var fingerprint: String
    public var serial: String
    public var notAfter: Date

    public init(der: Data, fingerprint: String, serial: String, notAfter: Date) {
        self.der = der
        self.fingerprint = fingerprint
        self.serial = serial
        self.notAfter = notAfter
    }

    /// The certificate an enrollment issues.
    public init(_ device: NewDevice) {
        self.init(der: device.certificateDER, fingerprint: device.certificateFingerprint, serial: device.certificateSerial,
                  notAfter: device.certificateNotAfter)
    }
}

public struct StoredDeviceCertificate: Sendable, Equatable {
    public var deviceID: String
    public var certificate: NewDeviceCertificate
    public var issuedAt: Date
}

/// A certificate the server issued to an active kiosk at its own signed request.
public struct DeviceCertificateRenewal: Sendable, Equatable {
    public var deviceID: String
    /// The certificate the kiosk asked with (the audit entry's old fingerprint).
    public var presentedFingerprint: String
    public var certificate: NewDeviceCertificate
    /// The request signature's nonce, consumed with the renewal so that a replay renews nothing.
    public var nonce: String
    public var renewedAt: Date

    public init(deviceID: String, presentedFingerprint: String, certificate: NewDeviceCertificate, nonce: String, renewedAt: Date) {
        self.deviceID = deviceID
        self.presentedFingerprint = presentedFingerprint
        self.certificate = certificate
        self.nonce = nonce
        self.renewedAt = renewedAt
    }
}

public enum DeviceCertificateRenewalResult: Sendable, Equatable {
    case renewed
    /// The device used the request's nonce before; nothing was stored.
    case nonceReplayed
}

/// Why a renewal was not recorded; nothing was changed.
public enum DeviceCertificateRenewalError: Error, Sendable, Equatable, CustomStringConvertible {
    case unknownDevice(String)
    case deviceRevoked(String)
    /// The presented certificate was not issued to this device.
    case foreignCertificate(deviceID: String, fingerprint: String)

    public var description: String {
        switch self {
        case let .unknownDevice(id): "no device \(id) is enrolled"
        case let .deviceRevoked(id): "device \(id) was revoked; a revoked device cannot renew its certificate"
        case let .foreignCertificate(id, fingerprint): "the certificate \(fingerprint) was not issued to \(id)"
        }
    }
}

// MARK: The change

enum DeviceCertificateChange {
    /// Why the renewal cannot be recorded, from the device's row (`StoreSQL.deviceForRenewal`)
    /// and the owner of the presented certificate: nil when it can.
    static func refusal(_ renewal: DeviceCertificateRenewal, device: (some StoreRow)?,
                        presentedOwner: String?) throws -> DeviceCertificateRenewalError? {
        guard let device else { return .unknownDevice(renewal.deviceID) }
        guard try device.text("status") == DeviceSummary.Status.active.rawValue else { return .deviceRevoked(renewal.deviceID) }
        guard presentedOwner == renewal.deviceID else {
            return .foreignCertificate(deviceID: renewal.deviceID, fingerprint: renewal.presentedFingerprint)
        }
        return nil
    }

    /// The new certificate beside the others, the devices row pointing at it, and the entry.
    static func renew(_ renewal: DeviceCertificateRenewal, sql: StoreSQL) throws -> StoreChange {
        StoreChange([sql.insertDeviceCertificate(renewal.certificate, deviceID: renewal.deviceID, issuedAt: renewal.renewedAt),
                     sql.setCurrentDeviceCertificate(renewal.certificate, deviceID: renewal.deviceID)],
                    audit: [try PendingAuditEntry(.deviceCertificateRenewed, actor: "device:\(renewal.deviceID)",
                                                  details: StoreAuditDetails.deviceCertificateRenewed(renewal), at: renewal.renewedAt)])
    }
}

extension StoreAuditDetails {
    static func deviceCertificateRenewed(_ renewal: DeviceCertificateRenewal) -> JSONValue {
        .object([
            ("device_id", .string(renewal.deviceID)), ("old_fingerprint", .string(renewal.presentedFingerprint)),
            ("new_fingerprint", .string(renewal.certificate.fingerprint)), ("certificate_serial", .string(renewal.certificate.serial)),
            ("not_after", .string(RFC3339.format(renewal.certificate.notAfter))),
        ])
    }
}

// MARK: Statements

extension StoreSQL {
    func insertDeviceCertificate(_ certificate: NewDeviceCertificate, deviceID: String, issuedAt time: Date) -> StoreStatement {
        StoreStatement("""
            INSERT INTO device_certificates (fingerprint, device_id, certificate_der, serial, not_after, issued_at)
            VALUES (?, ?, ?, ?, ?, ?)
            """, certificate.fingerprint, deviceID, certificate.der, certificate.serial, certificate.notAfter, time)
    }

    /// The device's status, locked so that a revocation committing meanwhile is waited for.
    func deviceForRenewal(id: String) -> StoreStatement {
        StoreStatement("SELECT status FROM devices WHERE device_id = ?" + forUpdate, id)
    }

    func deviceCertificateOwner(fingerprint: String) -> StoreStatement {
        StoreStatement("SELECT device_id FROM device_certificates WHERE fingerprint = ?", fingerprint)
    }

    func setCurrentDeviceCertificate(_ certificate: NewDeviceCertificate, deviceID: String) -> StoreStatement {
        StoreStatement("""
            UPDATE devices SET certificate_der = ?, certificate_fingerprint = ?, certificate_serial = ?, certificate_not_after = ?
            WHERE device_id = ?
            """, certificate.der, certificate.fingerprint, certificate.serial, certificate.notAfter, deviceID)
    }

    func deviceCertificates(deviceID: String) -> StoreStatement {
        StoreStatement("""
            SELECT fingerprint, device_id, certificate_der, serial, not_after, issued_at
            FROM device_certificates WHERE device_id = ? ORDER BY issued_at, not_after
            """, deviceID)
    }
}

extension StoreRows {
    static func deviceCertificate(_ row: some StoreRow) throws -> StoredDeviceCertificate {
        StoredDeviceCertificate(deviceID: try row.text("device_id"),
                                certificate: NewDeviceCertificate(der: Data(try row.bytes("certificate_der")),
                                                                  fingerprint: try row.text("fingerprint"), serial: try row.text("serial"),
                                                                  notAfter: try row.date("not_after")),
                                issuedAt: try row.date("issued_at"))
    }
}

// MARK: Back ends

extension SQLiteStore {
    public func renewDeviceCertificate(_ renewal: DeviceCertificateRenewal) async throws -> DeviceCertificateRenewalResult {
        try await pool.write { db in
            if let refusal = try DeviceCertificateChange.refusal(
                renewal, device: db.fetchOne(Self.sql.deviceForRenewal(id: renewal.deviceID)),
                presentedOwner: db.scalar(String.self, Self.sql.deviceCertificateOwner(fingerprint: renewal.presentedFingerprint))) {
                throw refusal
            }
            guard try db.changes(Self.sql.insertNonce(deviceID: renewal.deviceID, nonce: renewal.nonce, seenAt: renewal.renewedAt)) == 1 else {
                return .nonceReplayed
            }
            try db.apply(DeviceCertificateChange.renew(renewal, sql: Self.sql))
            return .renewed
        }
    }

    public func deviceCertificates(deviceID: String) async throws -> [StoredDeviceCertificate] {
        try await pool.read { db in try db.fetchAll(Self.sql.deviceCertificates(deviceID: deviceID)).map(StoreRows.deviceCertificate) }
    }
}

extension PostgresStore {
    public func renewDeviceCertificate(_ renewal: DeviceCertificateRenewal) async throws -> DeviceCertificateRenewalResult {
        try await write { db in
            // The device first, as every write about one kiosk takes it, so renewals and uploads of one kiosk queue.
            try await AdvisoryLock.device(renewal.deviceID, in: db)
            if let refusal = try DeviceCertificateChange.refusal(
                renewal, device: await db.fetchOne(Self.sql.deviceForRenewal(id: renewal.deviceID)),
                presentedOwner: await db.scalar(String.self, Self.sql.deviceCertificateOwner(fingerprint: renewal.presentedFingerprint))) {
                throw refusal
            }
            guard try await db.changes(Self.sql.insertNonce(deviceID: renewal.deviceID, nonce: renewal.nonce,
                                                            seenAt: renewal.renewedAt)) == 1 else {
                return .nonceReplayed
            }
            try await db.apply(DeviceCertificateChange.renew(renewal, sql: Self.sql))
            return .renewed
        }
    }

    public func deviceCertificates(deviceID: String) async throws -> [StoredDeviceCertificate] {
        try await single { db in try await db.fetchAll(Self.sql.deviceCertificates(deviceID: deviceID)).map(StoreRows.deviceCertificate) }
    }
}

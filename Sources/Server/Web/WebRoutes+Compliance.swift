import AuditLog
import Charts
import Compliance
import FeedbackWire
import Foundation
import Storage
import StrictJSON
import WebPages

extension WebRoutes {
    /// Rows of consent records shown at once; the count above the table says how many matched.
    static let consentRowsShown = 200

    /// Consent records under the filter, withdrawals with their time to erasure, what is past
    /// its retention, and the audit log's checkpoints (with the result of a verify, if asked).
    func compliancePage(filter: ConsentEventFilter, verification: CompliancePage.Verification?) async throws -> CompliancePage {
        let events = try await compliance.consentEvents(filter)
        let checkpoints = try await compliance.auditCheckpoints().compactMap { AuditService.signedCheckpoint($0.checkpoint) }
        return CompliancePage(
            filter: CompliancePage.Filter(
                subject: filter.pseudonym ?? "", site: filter.site ?? "", purpose: filter.purpose?.rawValue ?? "",
                from: filter.from.map(RFC3339.format) ?? "", to: filter.to.map(RFC3339.format) ?? "",
                purposes: Purpose.allCases.map { .init(value: $0.rawValue, selected: $0 == filter.purpose) }),
            consentTotal: events.count,
            consentRecords: events.prefix(Self.consentRowsShown).map { stored in
                CompliancePage.ConsentRecord(
                    occurred: Format.time(stored.event.occurredAt), subject: stored.event.pseudonym, purpose: stored.event.purpose,
                    kind: stored.event.kind.rawValue, site: stored.event.site, device: stored.deviceID, textVersion: stored.event.textVersion,
                    refusal: stored.refusal)
            },
            consentTruncated: events.count > Self.consentRowsShown,
            withdrawals: try await compliance.withdrawalReport().map { row in
                CompliancePage.Withdrawal(
                    subject: row.pseudonym, purpose: row.purpose.rawValue, withdrawn: Format.time(row.withdrawnAt),
                    erased: row.erasedAt.map(Format.time) ?? "not erased",
                    timeToErasure: row.erasedAt.map { Format.duration(milliseconds: $0.timeIntervalSince(row.withdrawnAt) * 1000) } ?? "—",
                    processedAfter: row.processedAfterWithdrawal)
            },
            retentionDue: try await compliance.overdueRetention(now: now()).map {
                CompliancePage.RetentionDue(jurisdiction: $0.jurisdiction, purpose: $0.purpose.rawValue, outcomes: $0.outcomes,
                                            oldest: Format.time($0.oldestAttemptAt))
            },
            retentionRules: try await compliance.retentionRules().map {
                CompliancePage.RetentionRule(jurisdiction: $0.jurisdiction, purpose: $0.purpose.rawValue, days: $0.days)
            },
            auditTreeSize: try await compliance.auditTreeSize(),
            checkpoints: checkpoints.reversed().map {
                CompliancePage.Checkpoint(treeSize: $0.checkpoint.treeSize, rootHash: $0.checkpoint.rootHash.base64,
                                          timestamp: $0.checkpoint.timestamp)
            },
            verification: verification)
    }

    /// `faceloop audit verify`'s check, on the bundle `GET /v1/audit/bundle?since=` would export now.
    func verifyAuditLog(since size: Int) async throws -> CompliancePage.Verification {
        let report = AuditBundleVerifier.verify(bundleBytes: try await audit.bundle(since: size), publicKey: audit.firstKey)
        return CompliancePage.Verification(since: size, valid: report.isValid, summary: report.summary,
                                           failures: report.failures.map { "\($0)" })
    }
}

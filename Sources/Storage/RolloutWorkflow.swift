import AuditLog
import FeedbackWire
import Foundation
import StrictJSON

/// A model rollout's compare-and-set as both stores apply it inside their transaction: the
/// stored state is read (in the same transaction), and the change is made only from one of
/// the states the caller expects.
enum RolloutWorkflow {
    /// The change that writes `next` and its audit entry, or nil when the release does not
    /// exist (`releaseExists` false) or its state is not in `from`. `storedState` is the
    /// state column of `StoreSQL.modelRolloutState`: nil when no rollout is stored, which is
    /// a candidate.
    static func transition(version: Int, releaseExists: Bool, storedState: String?, from: Set<RolloutState>,
                           to next: StoredModelRollout, actor: String, sql: StoreSQL) throws -> StoreChange? {
        guard next.version == version else { throw ModelRolloutStoreError.versionMismatch(version: version, rolloutVersion: next.version) }
        guard releaseExists else { return nil }
        let current = storedState.map(StoreRows.rolloutState) ?? .candidate
        guard from.contains(current) else { return nil }
        return StoreChange([sql.upsertModelRollout(next)],
                           audit: [try PendingAuditEntry(.modelRollout, actor: actor,
                                                         details: StoreAuditDetails.modelRollout(from: current, to: next),
                                                         at: next.updatedAt)])
    }
}

/// The rollout's list columns as JSON text, the same in both back ends: cohorts as
/// `[{"camera_model", "site"}]`, approvals as `[{"step", "token_id", "actor", "at"}]` with
/// `at` in seconds since 1970 (as every stored time), so a time reads back exactly.
enum ModelRolloutColumns {
    static func cohortsJSON(_ cohorts: [RolloutCohort]) -> JSONValue {
        .array(cohorts.map { .object([("camera_model", .string($0.cameraModel)), ("site", .string($0.site))]) })
    }

    static func cohorts(_ cohorts: [RolloutCohort]) -> String { cohortsJSON(cohorts).serializedString }

    static func approvals(_ approvals: [RolloutApproval]) -> String {
        JSONValue.array(approvals.map {
            .object([("step", .string($0.step.rawValue)), ("token_id", .string($0.tokenID)), ("actor", .string($0.actor)),
                     ("at", .number($0.at.timeIntervalSince1970))])
        }).serializedString
    }

    static func cohorts(from text: String, version: Int) throws -> [RolloutCohort] {
        try items(text, column: "cohorts", version: version).map { item in
            guard let cameraModel = item["camera_model"]?.stringValue, let site = item["site"]?.stringValue else {
                throw ModelRolloutStoreError.unreadableColumn(version: version, column: "cohorts")
            }
            return RolloutCohort(cameraModel: cameraModel, site: site)
        }
    }

    /// An approval of a step this version does not know reads as a rollback's: it approved
    /// nothing this version would act on.
    static func approvals(from text: String, version: Int) throws -> [RolloutApproval] {
        try items(text, column: "approvals", version: version).map { item in
            guard let step = item["step"]?.stringValue, let tokenID = item["token_id"]?.stringValue,
                  let actor = item["actor"]?.stringValue, let at = item["at"]?.numberValue else {
                throw ModelRolloutStoreError.unreadableColumn(version: version, column: "approvals")
            }
            return RolloutApproval(step: StoreRows.rolloutState(step), tokenID: tokenID, actor: actor, at: Date(timeIntervalSince1970: at))
        }
    }

    private static func items(_ text: String, column: String, version: Int) throws -> [JSONValue] {
        guard let items = (try? JSONValue.parse(text))?.arrayValue else {
            throw ModelRolloutStoreError.unreadableColumn(version: version, column: column)
        }
        return items
    }
}

extension StoreRows {
    /// A state this version does not know reads as rolled back: the release then decides nothing.
    static func rolloutState(_ text: String) -> RolloutState {
        RolloutState(rawValue: text) ?? .rolledBack
    }

    /// A release and its rollout from `StoreSQL.modelRollouts`: a candidate since its
    /// publication when no rollout is stored.
    static func modelRollout(_ row: some StoreRow) throws -> StoredModelRollout {
        let version = try row.integer("version")
        guard let state = try row.optionalText("state") else {
            return StoredModelRollout(version: version, state: .candidate, updatedAt: try row.date("published_at"))
        }
        return StoredModelRollout(
            version: version, state: rolloutState(state),
            cohorts: try ModelRolloutColumns.cohorts(from: try row.text("cohorts"), version: version),
            canaryDevices: StoredList.decode(try row.text("canary_devices")), canaryPercent: try row.optionalReal("canary_percent"),
            approvals: try ModelRolloutColumns.approvals(from: try row.text("approvals"), version: version),
            comparison: try row.bytes("comparison"), reason: try row.optionalText("reason"), updatedAt: try row.date("updated_at"))
    }
}

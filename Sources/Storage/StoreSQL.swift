import AuditLog
import Compliance
import FeedbackWire
import Foundation
import StrictJSON

/// Every statement the stores run, written once. Where SQLite and PostgreSQL spell a thing
/// differently the dialect picks the spelling (`emptyBytes`, `least`, `inList`, row locks);
/// everything else is the same text for both. The schema's DDL is not here: migrations are
/// append-only per back end (`SQLiteSchema`, `PostgresSchema`).
struct StoreSQL: Sendable {
    let dialect: StoreDialect

    // MARK: Dialect

    /// An empty byte string: a dropped body, a receipt not written yet.
    var emptyBytes: String { dialect == .sqlite ? "X''" : "''::bytea" }

    /// Locks the rows read until the transaction ends, so that two nodes cannot both act on
    /// what they read. SQLite has one writer at a time and needs none.
    var forUpdate: String { dialect == .sqlite ? "" : " FOR UPDATE" }

    /// As `forUpdate`, but others may read-lock the rows too.
    var forShare: String { dialect == .sqlite ? "" : " FOR SHARE" }

    /// `column` is one of the strings bound, as one `.textList` argument, to the placeholder.
    func inList(_ column: String) -> String {
        dialect == .sqlite ? "\(column) IN (SELECT value FROM json_each(?))" : "\(column) = ANY(?)"
    }

    /// The smaller of two values.
    func least(_ first: String, _ second: String) -> String {
        dialect == .sqlite ? "MIN(\(first), \(second))" : "LEAST(\(first), \(second))"
    }

    // MARK: Devices and enrollment

    func insertEnrollmentToken(_ token: StoredEnrollmentToken) -> StoreStatement {
        StoreStatement("INSERT INTO enrollment_tokens (token_sha256, device_id, created_at, expires_at, sites) VALUES (?, ?, ?, ?, ?)",
                       token.sha256, token.deviceID, token.createdAt, token.expiresAt, StoredList.encode(token.sites))
    }

    /// The sites a token binds its device to (NULL for a token issued before bindings).
    func enrollmentTokenSites(sha256: String) -> StoreStatement {
        StoreStatement("SELECT sites FROM enrollment_tokens WHERE token_sha256 = ?", sha256)
    }

    /// Those of `sites` that are registered (`faceloop compliance site`).
    func registeredSites(_ sites: [String]) -> StoreStatement {
        StoreStatement("SELECT site FROM sites WHERE \(inList("site"))", SQLArgument.textList(sites))
    }

    func deviceSites(deviceID: String) -> StoreStatement {
        StoreStatement("SELECT site FROM device_sites WHERE device_id = ? ORDER BY site", deviceID)
    }

    let allDeviceSites = StoreStatement("SELECT device_id, site FROM device_sites ORDER BY device_id, site")

    /// Replaces the device's sites with `sites`.
    func bindDevice(_ deviceID: String, to sites: [String]) -> [StoreStatement] {
        [StoreStatement("DELETE FROM device_sites WHERE device_id = ?", deviceID)]
            + sites.map { StoreStatement("INSERT INTO device_sites (device_id, site) VALUES (?, ?)", deviceID, $0) }
    }

    /// Locked when it is about to be redeemed, so that one redemption wins.
    func enrollmentToken(sha256: String, forRedemption: Bool) -> StoreStatement {
        StoreStatement("SELECT device_id, expires_at, redeemed_at FROM enrollment_tokens WHERE token_sha256 = ?"
                       + (forRedemption ? forUpdate : ""), sha256)
    }

    func activeDeviceKeys(deviceID: String) -> StoreStatement {
        StoreStatement("SELECT signing_key, certificate_der FROM devices WHERE device_id = ? AND status = 'active'", deviceID)
    }

    func deviceExists(deviceID: String) -> StoreStatement {
        StoreStatement("SELECT 1 FROM devices WHERE device_id = ?", deviceID)
    }

    func redeemEnrollmentToken(sha256: String, at time: Date) -> StoreStatement {
        StoreStatement("UPDATE enrollment_tokens SET redeemed_at = ? WHERE token_sha256 = ?", time, sha256)
    }

    func insertDevice(_ device: NewDevice, enrolledAt time: Date) -> StoreStatement {
        StoreStatement("""
            INSERT INTO devices (device_id, status, signing_key, certificate_der, certificate_fingerprint,
                                 certificate_serial, certificate_not_after, enrolled_at)
            VALUES (?, 'active', ?, ?, ?, ?, ?, ?)
            """, device.deviceID, device.signingKey, device.certificateDER, device.certificateFingerprint,
                       device.certificateSerial, device.certificateNotAfter, time)
    }

    func device(id: String) -> StoreStatement { deviceRecord(where: "device_id = ?", id) }

    /// By any certificate issued to the device (`device_certificates`), not only its newest.
    func device(certificateFingerprint: String) -> StoreStatement {
        deviceRecord(where: "device_id = (SELECT device_id FROM device_certificates WHERE fingerprint = ?)", certificateFingerprint)
    }

    /// With the device's sites as one JSON array (`StoredList`), so that authenticating a kiosk
    /// stays one statement.
    private func deviceRecord(where condition: String, _ value: String) -> StoreStatement {
        let sites = dialect == .sqlite
            ? "(SELECT json_group_array(s.site) FROM device_sites s WHERE s.device_id = devices.device_id)"
            : "(SELECT COALESCE(json_agg(s.site), '[]'::json)::text FROM device_sites s WHERE s.device_id = devices.device_id)"
        return StoreStatement("""
            SELECT device_id, status, signing_key, certificate_fingerprint, certificate_not_after, \(sites) AS sites
            FROM devices WHERE \(condition)
            """, value)
    }

    let refusedEventCounts = StoreStatement("SELECT device_id, reason, events FROM refused_event_counts")

    let deviceSummaries = StoreStatement("""
        SELECT d.device_id, d.status, d.enrolled_at, d.revoked_at, d.certificate_serial, d.certificate_not_after,
               d.reported_backlog, d.backlog_reported_at,
               MAX(b.received_at) AS last_upload_at, COUNT(b.batch_id) AS batches,
               CAST(COALESCE(SUM(b.event_count), 0) AS BIGINT) AS events
        FROM devices d LEFT JOIN batches b ON b.device_id = d.device_id
        GROUP BY d.device_id ORDER BY d.device_id
        """)

    func revokeDevice(id: String, at time: Date) -> StoreStatement {
        StoreStatement("UPDATE devices SET status = 'revoked', revoked_at = ? WHERE device_id = ? AND status = 'active'", time, id)
    }

    // MARK: API tokens

    func insertAPIToken(sha256: String, role: String, label: String, at time: Date) -> StoreStatement {
        StoreStatement("INSERT INTO api_tokens (token_sha256, role, label, created_at) VALUES (?, ?, ?, ?)", sha256, role, label, time)
    }

    let apiTokens = StoreStatement("SELECT * FROM api_tokens ORDER BY created_at")

    /// The token is identified by the first 16 hex digits of its SHA-256 (its id).
    func activeAPIToken(id: String) -> StoreStatement {
        StoreStatement("SELECT role, label FROM api_tokens WHERE substr(token_sha256, 1, 16) = ? AND revoked_at IS NULL" + forUpdate, id)
    }

    func revokeAPIToken(id: String, at time: Date) -> StoreStatement {
        StoreStatement("UPDATE api_tokens SET revoked_at = ? WHERE substr(token_sha256, 1, 16) = ?", time, id)
    }

    func activeAPIToken(sha256: String) -> StoreStatement {
        StoreStatement("SELECT role, label FROM api_tokens WHERE token_sha256 = ? AND revoked_at IS NULL", sha256)
    }

    // MARK: Outcomes

    /// Changes one row, or none when the device used the nonce before (a replay).
    func insertNonce(deviceID: String, nonce: String, seenAt time: Date) -> StoreStatement {
        StoreStatement("INSERT INTO nonces (device_id, nonce, seen_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING", deviceID, nonce, time)
    }

    func batch(deviceID: String, sequence: Int64) -> StoreStatement {
        StoreStatement("SELECT content_digest, receipt FROM batches WHERE device_id = ? AND sequence = ?", deviceID, sequence)
    }

    /// The batch row, written once the intake is decided: with its count, receipt and
    /// redaction, so that its body's pages are written once (they were inserted and then
    /// rewritten by an UPDATE carrying the receipt). It goes in before the outcomes, which
    /// refer to it. `storedBody` is what the row keeps of the signed body when it is not
    /// redacted: the body itself, or SQLite's frame of it (`StoredBatchBody`).
    func insertBatch(_ incoming: IncomingBatch, batchID: String, acceptedEvents: Int, receipt: [UInt8], redacted: Bool,
                     storedBody: [UInt8]) -> StoreStatement {
        StoreStatement("""
            INSERT INTO batches (batch_id, device_id, sequence, content_digest, body, signature_input, signature,
                                 received_at, event_count, receipt, redacted_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, batchID, incoming.batch.deviceID, incoming.batch.sequence, incoming.contentDigest, redacted ? [] : storedBody,
                       incoming.signatureInput, incoming.signature, incoming.receivedAt, acceptedEvents, receipt,
                       redacted ? incoming.receivedAt : nil)
    }

    func storedOutcomeIDs(_ eventIDs: [String]) -> StoreStatement {
        StoreStatement("SELECT event_id FROM outcomes WHERE \(inList("event_id"))", SQLArgument.textList(eventIDs))
    }

    /// PostgreSQL: multi-row INSERTs (a round trip per outcome would dominate ingest), each
    /// under its cap of 65,535 parameters. SQLite: runs of `sqliteRowsPerStatement` rows, then
    /// single rows, so that only two texts are ever compiled (`Database.bound` keeps both); a
    /// text that changed with the batch's size was compiled anew for every batch, and one row
    /// per statement paid SQLite's and GRDB's per-statement work (cursors on five B-trees, a
    /// reset, the observers' check) a hundred times a batch. SQLite's rows also carry their
    /// batch's arrival (`received_at`, see `heldSince`).
    func insertOutcomes(_ outcomes: [MatchOutcome], batchID: String, deviceID: String, receivedAt: Date) -> [StoreStatement] {
        outcomeInserts(outcomes, batchID: batchID, deviceID: deviceID, receivedAt: receivedAt) { rows, columns in
            var arguments: [SQLArgument] = []
            arguments.reserveCapacity(rows * columns)
            return arguments
        } statement: { sql, arguments in
            var statement = StoreStatement(sql)
            statement.arguments = arguments
            return statement
        }
    }

    /// SQLite's `insertOutcomes`, each statement's arguments packed as its rows are spelled
    /// (`PreparedBatch`), with no list of arguments in between: making the list and then
    /// packing it took two thirds of what a batch's upload prepares for the writer.
    func packedOutcomeInserts(_ outcomes: [MatchOutcome], batchID: String, deviceID: String, receivedAt: Date) -> [StoreStatement] {
        outcomeInserts(outcomes, batchID: batchID, deviceID: deviceID, receivedAt: receivedAt) { rows, columns in
            SQLitePackedArguments(reservingCapacity: rows * columns, bytes: rows * Self.packedBytesPerRow)
        } statement: { sql, packed in
            var statement = StoreStatement(sql)
            statement.sqlitePacked = packed
            return statement
        }
    }

    /// About what an outcome's strings take: a buffer this size is seldom grown.
    private static let packedBytesPerRow = 384

    private func outcomeInserts<Sink: SQLArgumentSink>(_ outcomes: [MatchOutcome], batchID: String, deviceID: String, receivedAt: Date,
                                                       sink: (_ rows: Int, _ columns: Int) -> Sink,
                                                       statement: (String, Sink) -> StoreStatement) -> [StoreStatement] {
        let arrival = dialect == .sqlite ? receivedAt.sqlArgument : nil
        let columns = dialect == .sqlite ? Self.outcomeColumns : Self.outcomeColumns - 1
        var tagTexts: [[String]: String] = [:]
        func rows(_ chunk: ArraySlice<MatchOutcome>, sql: String) -> StoreStatement {
            var arguments = sink(chunk.count, columns)
            for outcome in chunk {
                // A batch's outcomes mostly share their tags: serialized once per distinct list.
                let tags = tagTexts[outcome.cohort.tags] ?? {
                    let text = JSONValue.serializedStringArray(outcome.cohort.tags)
                    tagTexts[outcome.cohort.tags] = text
                    return text
                }()
                Self.appendRow(outcome, tags: tags, batchID: batchID, deviceID: deviceID, arrival: arrival, to: &arguments)
            }
            return statement(sql, arguments)
        }
        guard dialect == .sqlite else {
            return stride(from: 0, to: outcomes.count, by: 3000).map { start in
                let chunk = outcomes[start..<min(start + 3000, outcomes.count)]
                return rows(chunk, sql: Self.insertOutcomes(rows: chunk.count, sqlite: false))
            }
        }
        let runs = outcomes.count / Self.sqliteRowsPerStatement * Self.sqliteRowsPerStatement
        return stride(from: 0, to: runs, by: Self.sqliteRowsPerStatement).map { start in
            rows(outcomes[start..<start + Self.sqliteRowsPerStatement], sql: Self.insertOutcomeRun)
        } + (runs..<outcomes.count).map { rows(outcomes[$0...$0], sql: Self.insertOneOutcome) }
    }

    /// One outcome's row, in the column order of `insertOutcomes(rows:sqlite:)`.
    private static func appendRow<Sink: SQLArgumentSink>(_ outcome: MatchOutcome, tags: String, batchID: String, deviceID: String,
                                                         arrival: SQLArgument?, to sink: inout Sink) {
        sink.append(.text(outcome.eventID.lowercaseText))
        sink.append(.text(batchID))
        sink.append(.text(deviceID))
        sink.append(outcome.attemptedAt.sqlArgument)
        sink.append(.text(outcome.modelVersion))
        sink.append(.text(outcome.thresholdVersion))
        sink.append(.text(outcome.cohort.site))
        sink.append(.text(outcome.cohort.cameraModel))
        sink.append(.text(tags))
        sink.append(.real(outcome.score))
        sink.append(.text(outcome.decision.rawValue))
        sink.append(.text(outcome.label.rawValue))
        sink.append(.text(outcome.labelSource.rawValue))
        sink.append(.integer(outcome.quality.faceSizePx))
        sink.append(.real(outcome.quality.sharpness))
        sink.append(.real(outcome.quality.brightness))
        sink.append(outcome.livenessScore.sqlArgument)
        sink.append(.text(outcome.subject.pseudonym))
        sink.append(.text(outcome.subject.consentRef))
        sink.append(outcome.shadow?.modelVersion.sqlArgument ?? .null)
        sink.append(outcome.shadow?.score.sqlArgument ?? .null)
        sink.append(outcome.subject.keyVersion.sqlArgument)
        sink.append(ShadowScoresColumn.encode(outcome.shadowScores).map(SQLArgument.text) ?? .null)
        if let arrival { sink.append(arrival) }
    }

    private static let outcomeColumns = 24
    /// Rows per SQLite outcome insert but the last few of a batch: 384 arguments.
    static let sqliteRowsPerStatement = 16
    /// SQLite's outcome inserts (`Database.applyBatch` recognises them by their text). `OR FAIL`,
    /// so that a statement of several rows needs no statement journal: SQLite otherwise copies
    /// every page such a statement changes first, to undo it alone on a duplicate id. A
    /// duplicate refuses the batch and its rows are undone with it (`SQLiteGroupCommit`).
    static let insertOutcomeRun = insertOutcomes(rows: sqliteRowsPerStatement, sqlite: true)
    static let insertOneOutcome = insertOutcomes(rows: 1, sqlite: true)

    /// SQLite's form adds `OR FAIL` and the arrival column.
    private static func insertOutcomes(rows: Int, sqlite: Bool) -> String {
        let row = "(" + Array(repeating: "?", count: sqlite ? outcomeColumns : outcomeColumns - 1).joined(separator: ", ") + ")"
        return """
            INSERT \(sqlite ? "OR FAIL " : "")INTO outcomes (event_id, batch_id, device_id, attempted_at, model_version,
                                  threshold_version, site, camera_model, tags, score, decision, label, label_source,
                                  face_size_px, sharpness, brightness, liveness_score, subject_pseudonym, consent_ref,
                                  shadow_model_version, shadow_score, key_version, shadow_scores\(sqlite ? ", received_at" : ""))
            VALUES \(Array(repeating: row, count: rows).joined(separator: ", "))
            """
    }

    /// One statement per reason, so concurrent batches of a device never lose each other's counts.
    func addRefusedEvents(deviceID: String, reason: String, events: Int) -> StoreStatement {
        StoreStatement("""
            INSERT INTO refused_event_counts (device_id, reason, events) VALUES (?, ?, ?)
            ON CONFLICT (device_id, reason) DO UPDATE SET events = refused_event_counts.events + excluded.events
            """, deviceID, reason, events)
    }

    /// Batches may arrive out of order after retries: the figure sealed last is kept.
    func reportBacklog(_ backlog: Int, sealedAt time: Date, deviceID: String) -> StoreStatement {
        StoreStatement("""
            UPDATE devices SET reported_backlog = ?, backlog_reported_at = ?
            WHERE device_id = ? AND (backlog_reported_at IS NULL OR backlog_reported_at <= ?)
            """, backlog, time, deviceID, time)
    }

    let outcomeCount = StoreStatement("SELECT COUNT(*) FROM outcomes")
    let batchCount = StoreStatement("SELECT COUNT(*) FROM batches")
    let outcomesByDevice = StoreStatement("SELECT device_id, COUNT(*) AS n FROM outcomes GROUP BY device_id ORDER BY device_id")
    let outcomesByCohort = StoreStatement("""
        SELECT site, camera_model, COUNT(*) AS n FROM outcomes GROUP BY site, camera_model ORDER BY site, camera_model
        """)
    let outcomesByLabel = StoreStatement("SELECT label, COUNT(*) AS n FROM outcomes GROUP BY label")

    func purgeNonces(seenBefore time: Date) -> StoreStatement {
        StoreStatement("DELETE FROM nonces WHERE seen_at < ?", time)
    }

    let ping = StoreStatement("SELECT 1")

    // MARK: Threshold releases

    /// Subjects whose latest decision is a limit (GDPR art. 18): their outcomes stay stored
    /// but are left out of every computation.
    let restrictedSubjects = StoreStatement("""
        SELECT c.subject_pseudonym FROM consent_events c
        WHERE c.purpose = ? AND c.refusal IS NULL AND c.kind = 'limit' AND NOT EXISTS (
            SELECT 1 FROM consent_events later WHERE later.subject_pseudonym = c.subject_pseudonym AND later.purpose = c.purpose
            AND later.refusal IS NULL AND (later.occurred_at > c.occurred_at OR (later.occurred_at = c.occurred_at AND later.arrival > c.arrival)))
        """, Purpose.outcomeStorage.rawValue)

    /// Columns in the order both back ends read them by position (the hot path of calibration).
    func calibrationOutcomes(from: Date?, to: Date?, scoredInShadowOnly: Bool) -> StoreStatement {
        StoreStatement("""
            SELECT model_version, site, camera_model, label, score, attempted_at, subject_pseudonym, shadow_model_version,
                   shadow_score, shadow_scores FROM outcomes
            WHERE attempted_at >= ? AND attempted_at < ?
            """ + (scoredInShadowOnly ? " AND (shadow_model_version IS NOT NULL OR shadow_scores IS NOT NULL)" : ""),
            from?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude, to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude)
    }

    /// Changes no row when the version exists already.
    func insertThresholdRelease(_ release: StoredThresholdRelease) -> StoreStatement {
        StoreStatement("""
            INSERT INTO threshold_releases (version, state, payload, refused, largest_change, required_approvals,
                                            approvals, computed_at, computed_by, computed_by_token, published_at, envelope)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (version) DO NOTHING
            """, release.version, release.state.rawValue, release.payload, release.refused, release.largestChange,
                       release.requiredApprovals, StoredList.encode(release.approvals), release.computedAt, release.computedBy,
                       release.computedByToken, release.publishedAt, release.envelope)
    }

    let thresholdReleases = StoreStatement("SELECT * FROM threshold_releases ORDER BY version")

    /// Locked for an approval: two approvers on two nodes must not overwrite each other's.
    func thresholdRelease(version: Int, forApproval: Bool = false) -> StoreStatement {
        StoreStatement("SELECT * FROM threshold_releases WHERE version = ?" + (forApproval ? forUpdate : ""), version)
    }

    func recordApprovals(_ release: StoredThresholdRelease) -> StoreStatement {
        StoreStatement("UPDATE threshold_releases SET approvals = ?, state = ? WHERE version = ?",
                       StoredList.encode(release.approvals), release.state.rawValue, release.version)
    }

    func thresholdReleaseState(version: Int) -> StoreStatement {
        StoreStatement("SELECT state FROM threshold_releases WHERE version = ?", version)
    }

    func retirePublishedRelease(as state: ReleaseState) -> StoreStatement {
        StoreStatement("UPDATE threshold_releases SET state = ? WHERE state = 'published'", state.rawValue)
    }

    func publishThresholdRelease(version: Int, envelope: [UInt8], at time: Date) -> StoreStatement {
        StoreStatement("UPDATE threshold_releases SET state = 'published', published_at = ?, envelope = ? WHERE version = ?",
                       time, envelope, version)
    }

    // MARK: Federated rounds

    let openRoundID = StoreStatement("SELECT round_id FROM federation_rounds WHERE state = 'open'")
    let roundCount = StoreStatement("SELECT COUNT(*) FROM federation_rounds")
    let lastRoundID = StoreStatement("SELECT MAX(round_id) FROM federation_rounds")

    func insertRound(_ round: StoredRound) -> StoreStatement {
        StoreStatement("""
            INSERT INTO federation_rounds (round_id, state, base_version, sampling_rate, noise_multiplier, deadline,
                                           specification, opened_at, opened_by)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, round.id, round.state.rawValue, round.baseVersion, round.samplingRate, round.noiseMultiplier, round.deadline,
                       round.specification, round.openedAt, round.openedBy)
    }

    private static let roundColumns = """
        SELECT r.*, (SELECT COUNT(*) FROM federation_updates u WHERE u.round_id = r.round_id) AS update_count FROM federation_rounds r
        """

    let rounds = StoreStatement("\(roundColumns) ORDER BY round_id")
    let openRound = StoreStatement("\(roundColumns) WHERE state = 'open'")

    func round(id: Int) -> StoreStatement {
        StoreStatement("\(Self.roundColumns) WHERE round_id = ?", id)
    }

    let privacyLedger = StoreStatement("SELECT sampling_rate, noise_multiplier FROM federation_rounds ORDER BY round_id")

    func update(roundID: Int, deviceID: String) -> StoreStatement {
        StoreStatement("SELECT content_digest, receipt FROM federation_updates WHERE round_id = ? AND device_id = ?", roundID, deviceID)
    }

    /// Share-locked, so that the round cannot close between this check and the commit.
    func roundAcceptingUpdates(id: Int) -> StoreStatement {
        StoreStatement("SELECT state, deadline FROM federation_rounds WHERE round_id = ?" + forShare, id)
    }

    func insertUpdate(_ update: IncomingUpdate) -> StoreStatement {
        StoreStatement("""
            INSERT INTO federation_updates (round_id, device_id, content_digest, body, signature_input, signature,
                                            received_at, receipt)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, update.roundID, update.deviceID, update.contentDigest, update.body, update.signatureInput, update.signature,
                       update.receivedAt, update.receipt)
    }

    func updateCount(roundID: Int) -> StoreStatement {
        StoreStatement("SELECT COUNT(*) FROM federation_updates WHERE round_id = ?", roundID)
    }

    func updates(roundID: Int) -> StoreStatement {
        StoreStatement("SELECT device_id, body, received_at, verdict FROM federation_updates WHERE round_id = ? ORDER BY device_id", roundID)
    }

    /// Changes no row when the round is not open (closed by another node first).
    func closeRound(id: Int, state: RoundState, outcome: [UInt8], at time: Date) -> StoreStatement {
        StoreStatement("UPDATE federation_rounds SET state = ?, outcome = ?, closed_at = ? WHERE round_id = ? AND state = 'open'",
                       state.rawValue, outcome, time, id)
    }

    /// What a closed round keeps of each update: digest, signature, receipt (with its norm) and
    /// verdict. The body, un-noised and in the span of the kiosk's training descriptors, goes
    /// (`dropUpdateBodies`) in the transaction that closes the round.
    func setUpdateVerdict(_ verdict: String, roundID: Int, deviceID: String) -> StoreStatement {
        StoreStatement("UPDATE federation_updates SET verdict = ? WHERE round_id = ? AND device_id = ?", verdict, roundID, deviceID)
    }

    func dropUpdateBodies(roundID: Int) -> StoreStatement {
        StoreStatement("UPDATE federation_updates SET body = \(emptyBytes) WHERE round_id = ?", roundID)
    }

    func insertModelRelease(_ release: NewModelRelease, roundID: Int, at time: Date) -> StoreStatement {
        StoreStatement("INSERT INTO model_releases (version, round_id, payload, envelope, published_at) VALUES (?, ?, ?, ?, ?)",
                       release.version, roundID, release.payload, release.envelope, time)
    }

    let modelReleases = StoreStatement("SELECT * FROM model_releases ORDER BY version")

    func modelRelease(version: Int) -> StoreStatement {
        StoreStatement("SELECT * FROM model_releases WHERE version = ?", version)
    }

    // MARK: Model rollouts

    /// Every release with its rollout columns, NULL where no rollout is stored (a candidate).
    private static let rolloutColumns = """
        SELECT m.version, m.published_at, r.state, r.cohorts, r.canary_devices, r.canary_percent, r.approvals, r.comparison,
               r.reason, r.updated_at
        FROM model_releases m LEFT JOIN model_rollouts r ON r.version = m.version
        """

    let modelRollouts = StoreStatement("\(rolloutColumns) ORDER BY m.version")

    func modelRollout(version: Int) -> StoreStatement {
        StoreStatement("\(Self.rolloutColumns) WHERE m.version = ?", version)
    }

    /// The release's stored rollout state: no row when there is no such release, a NULL
    /// state when it has no rollout yet.
    func modelRolloutState(version: Int) -> StoreStatement {
        StoreStatement("SELECT r.state FROM model_releases m LEFT JOIN model_rollouts r ON r.version = m.version WHERE m.version = ?",
                       version)
    }

    func upsertModelRollout(_ rollout: StoredModelRollout) -> StoreStatement {
        StoreStatement("""
            INSERT INTO model_rollouts (version, state, cohorts, canary_devices, canary_percent, approvals, comparison, reason, updated_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (version) DO UPDATE SET state = excluded.state, cohorts = excluded.cohorts,
                canary_devices = excluded.canary_devices, canary_percent = excluded.canary_percent, approvals = excluded.approvals,
                comparison = excluded.comparison, reason = excluded.reason, updated_at = excluded.updated_at
            """, rollout.version, rollout.state.rawValue, ModelRolloutColumns.cohorts(rollout.cohorts),
                       StoredList.encode(rollout.canaryDevices), rollout.canaryPercent, ModelRolloutColumns.approvals(rollout.approvals),
                       rollout.comparison, rollout.reason, rollout.updatedAt)
    }

    // MARK: Jurisdictions, sites, retention rules, consent texts

    /// The key goes to `jurisdiction_keys` as version 1 of a new jurisdiction (`insertFirstJurisdictionKey`);
    /// the old column stays empty.
    func upsertJurisdiction(_ jurisdiction: JurisdictionRecord) -> StoreStatement {
        StoreStatement("""
            INSERT INTO jurisdictions (name, data_region, biometric_law, request_days, pseudonym_key) VALUES (?, ?, ?, ?, \(emptyBytes))
            ON CONFLICT (name) DO UPDATE SET data_region = excluded.data_region, biometric_law = excluded.biometric_law,
                                             request_days = excluded.request_days
            """, jurisdiction.name, jurisdiction.dataRegion, jurisdiction.biometricLaw, jurisdiction.requestDays)
    }

    /// A new jurisdiction starts with the default rules, so the sweeper covers it from day one;
    /// rules set before are kept.
    func insertDefaultRetention(jurisdiction: String) -> [StoreStatement] {
        RetentionRule.defaults.map { purpose, days in
            StoreStatement("INSERT INTO retention_rules (jurisdiction, purpose, days) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                           jurisdiction, purpose.rawValue, days)
        }
    }

    let jurisdictions = StoreStatement(Self.jurisdictionsWithCurrentKey + " ORDER BY j.name")

    func jurisdictionExists(name: String) -> StoreStatement {
        StoreStatement("SELECT 1 FROM jurisdictions WHERE name = ?", name)
    }

    func upsertSite(_ site: SiteRecord) -> StoreStatement {
        StoreStatement("""
            INSERT INTO sites (site, jurisdiction, public_place) VALUES (?, ?, ?)
            ON CONFLICT (site) DO UPDATE SET jurisdiction = excluded.jurisdiction, public_place = excluded.public_place
            """, site.site, site.jurisdiction, site.publicPlace)
    }

    let sites = StoreStatement("SELECT * FROM sites ORDER BY site")

    /// Sites nobody registered belong to the default jurisdiction.
    func jurisdiction(ofSite site: String) -> StoreStatement {
        StoreStatement(Self.jurisdictionsWithCurrentKey + " WHERE j.name = COALESCE((SELECT jurisdiction FROM sites WHERE site = ?), ?)",
                       site, JurisdictionRecord.defaultName)
    }

    func upsertRetention(_ rule: RetentionRule) -> StoreStatement {
        StoreStatement("""
            INSERT INTO retention_rules (jurisdiction, purpose, days) VALUES (?, ?, ?)
            ON CONFLICT (jurisdiction, purpose) DO UPDATE SET days = excluded.days
            """, rule.jurisdiction, rule.purpose.rawValue, rule.days)
    }

    let retentionRules = StoreStatement("SELECT * FROM retention_rules ORDER BY jurisdiction, purpose")

    /// Changes no row when that purpose, version and language exists already.
    func insertConsentText(_ text: ConsentText) -> StoreStatement {
        StoreStatement("""
            INSERT INTO consent_texts (purpose, version, language, sha256, effective_at, material) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING
            """, text.purpose.rawValue, text.version, text.language, text.sha256, text.effectiveAt, text.material)
    }

    /// All texts, or those of one purpose.
    func consentTexts(purpose: Purpose?) -> StoreStatement {
        StoreStatement("""
            SELECT * FROM consent_texts WHERE (CAST(? AS TEXT) IS NULL OR purpose = ?) ORDER BY purpose, effective_at, version, language
            """, purpose?.rawValue, purpose?.rawValue)
    }

    /// The SHA-256s of the registered languages of one text.
    func consentTextHashes(purpose: String, version: String) -> StoreStatement {
        StoreStatement("SELECT sha256 FROM consent_texts WHERE purpose = ? AND version = ?", purpose, version)
    }

    // MARK: Consent events

    /// Changes no row when the event id is stored already.
    func insertConsentEvent(_ event: ConsentEvent, deviceID: String, batchID: String, receivedAt: Date,
                            refusal: String?) -> StoreStatement {
        StoreStatement("""
            INSERT INTO consent_events (event_id, device_id, batch_id, site, subject_pseudonym, purpose, kind, method, occurred_at,
                                        received_at, text_version, text_sha256, refusal, key_version)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING
            """, event.eventID.uuidString.lowercased(), deviceID, batchID, event.site, event.pseudonym, event.purpose,
                       event.kind.rawValue, event.method.rawValue, event.occurredAt, receivedAt, event.textVersion,
                       event.textSHA256, refusal, event.keyVersion)
    }

    /// Stamps the withdrawals in force that a batch recorded with the time its commit had
    /// returned: a follow-up write, since no transaction can know when its own commit returns.
    /// Only a batch's first storing stamps it (a resend has another batch id), and only once.
    func stampWithdrawalsBlocked(batchID: String, at time: Date) -> StoreStatement {
        StoreStatement("""
            UPDATE consent_events SET blocked_at = ?
            WHERE batch_id = ? AND kind = 'withdraw' AND refusal IS NULL AND blocked_at IS NULL
            """, time, batchID)
    }

    func consentEvents(_ filter: ConsentEventFilter) -> StoreStatement {
        StoreStatement("""
            SELECT * FROM consent_events
            WHERE (CAST(? AS TEXT) IS NULL OR subject_pseudonym = ?) AND (CAST(? AS TEXT) IS NULL OR site = ?)
              AND (CAST(? AS TEXT) IS NULL OR purpose = ?) AND occurred_at >= ? AND occurred_at < ?
            ORDER BY occurred_at, arrival LIMIT ?
            """, filter.pseudonym, filter.pseudonym, filter.site, filter.site, filter.purpose?.rawValue, filter.purpose?.rawValue,
                       filter.from?.timeIntervalSince1970 ?? -Double.greatestFiniteMagnitude,
                       filter.to?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude, filter.limit)
    }

    /// The consent events in force of the subjects, for `ConsentCache`.
    func consentRecords(pseudonyms: [String], purpose: Purpose) -> StoreStatement {
        StoreStatement("""
            SELECT subject_pseudonym, kind, occurred_at, text_version, arrival FROM consent_events
            WHERE \(inList("subject_pseudonym")) AND purpose = ? AND refusal IS NULL
            """, SQLArgument.textList(pseudonyms), purpose.rawValue)
    }

    /// Erasures the subjects asked for, which stop processing as a withdrawal would.
    func requestedErasures(pseudonyms: [String], purpose: Purpose) -> StoreStatement {
        StoreStatement("""
            SELECT subject_pseudonym, requested_at FROM erasures
            WHERE \(inList("subject_pseudonym")) AND purpose = ? AND cause = 'request'
            """, SQLArgument.textList(pseudonyms), purpose.rawValue)
    }

    /// Of the subjects, those with a consent event at one of the sites the kiosk is bound to:
    /// the subjects a kiosk may ask about.
    func subjectsAtKioskSites(pseudonyms: [String], deviceID: String) -> StoreStatement {
        StoreStatement("""
            SELECT DISTINCT c.subject_pseudonym FROM consent_events c WHERE \(inList("c.subject_pseudonym"))
            AND c.site IN (SELECT d.site FROM device_sites d WHERE d.device_id = ?)
            """, SQLArgument.textList(pseudonyms), deviceID)
    }

    // MARK: Erasure and retention

    /// When retention starts counting for an outcome: its attempt, or its arrival if that was
    /// earlier, so that an outcome dated in the future cannot outlive its retention.
    var heldSince: String { heldSince(of: "o") }

    /// SQLite's outcomes carry their batch's arrival; PostgreSQL's look it up.
    func heldSince(of alias: String) -> String {
        dialect == .sqlite ? least("\(alias).attempted_at", "\(alias).received_at")
            : least("\(alias).attempted_at", "(SELECT b.received_at FROM batches b WHERE b.batch_id = \(alias).batch_id)")
    }

    /// The outcomes held since before a cutoff (`heldSince < cutoff`), found through indexes
    /// instead of by reading every outcome and its batch: those attempted before it
    /// (`outcomes_by_time`) and those that arrived before it, since the least of two times is
    /// below the cutoff when either is. Only outcomes dated after their arrival can be in the
    /// second set and not the first: SQLite indexes just those (`outcomes_dated_after_arrival`,
    /// whose condition the query repeats so that the planner may use it); PostgreSQL goes
    /// through `batches_by_arrival` and `outcomes_by_batch`. A UNION, because both planners
    /// read the whole table for the OR of the two. It takes the cutoff twice.
    private var outcomesHeldBefore: String {
        let columns = "o.event_id, o.subject_pseudonym, o.site, o.attempted_at, o.batch_id" + (dialect == .sqlite ? ", o.received_at" : "")
        let arrivedBefore = dialect == .sqlite ? "o.received_at < o.attempted_at AND o.received_at < ?"
            : "o.batch_id IN (SELECT b.batch_id FROM batches b WHERE b.received_at < ?)"
        return """
            SELECT \(columns) FROM outcomes o WHERE o.attempted_at < ?
            UNION SELECT \(columns) FROM outcomes o WHERE \(arrivedBefore)
            """
    }

    /// Whether the outcome `alias` was captured at a site of the jurisdiction given as the argument.
    private static func ofJurisdiction(_ alias: String) -> String {
        "COALESCE((SELECT jurisdiction FROM sites s WHERE s.site = \(alias).site), '\(JurisdictionRecord.defaultName)') = ?"
    }

    /// The outcomes an erasure reaches: the subject's, held since before its cutoff if it has
    /// one; of one jurisdiction (by the site of capture) for retention, everywhere for
    /// withdrawals and requests.
    private func outcomes(of erasure: SubjectErasure) -> (selection: String, arguments: [any SQLArgumentConvertible]) {
        ("""
         FROM outcomes o WHERE o.subject_pseudonym = ? AND \(heldSince) < ?
         AND (CAST(? AS TEXT) IS NULL OR COALESCE((SELECT jurisdiction FROM sites s WHERE s.site = o.site), '\(JurisdictionRecord.defaultName)') = ?)
         """, [erasure.pseudonym, erasure.heldBefore?.timeIntervalSince1970 ?? Double.greatestFiniteMagnitude, erasure.jurisdiction,
               erasure.jurisdiction])
    }

    /// Drops the signed bodies of the batches that carried the outcomes `deleteOutcomes` deletes.
    func redactBatches(of erasure: SubjectErasure) -> StoreStatement {
        let (selection, arguments) = outcomes(of: erasure)
        return StoreStatement("""
            UPDATE batches SET body = \(emptyBytes), redacted_at = ?
            WHERE redacted_at IS NULL AND batch_id IN (SELECT DISTINCT o.batch_id \(selection))
            """, arguments: [erasure.time] + arguments)
    }

    func deleteOutcomes(of erasure: SubjectErasure) -> StoreStatement {
        let (selection, arguments) = outcomes(of: erasure)
        return StoreStatement("DELETE FROM outcomes WHERE event_id IN (SELECT o.event_id \(selection))", arguments: arguments)
    }

    /// The outcomes whose `shadow_scores` a model-improvement erasure clears: those the
    /// erasure reaches that hold any, with the columns the statistics need, locked until the
    /// transaction ends so that exactly these are cleared and uncounted.
    func shadowScoreOutcomes(of erasure: SubjectErasure) -> StoreStatement {
        let (selection, arguments) = outcomes(of: erasure)
        return StoreStatement("""
            SELECT o.event_id, \(ScoreStatisticsMaintenance.outcomeColumns) \(selection) AND o.shadow_scores IS NOT NULL\(forUpdate)
            """, arguments: arguments)
    }

    /// Drops the signed bodies of the batches that carried these outcomes (the bodies hold
    /// their shadow scores).
    func redactBatches(holdingOutcomes eventIDs: [String], at time: Date) -> StoreStatement {
        StoreStatement("""
            UPDATE batches SET body = \(emptyBytes), redacted_at = ?
            WHERE redacted_at IS NULL AND batch_id IN (SELECT batch_id FROM outcomes WHERE \(inList("event_id")))
            """, time, SQLArgument.textList(eventIDs))
    }

    func clearShadowScores(eventIDs: [String]) -> StoreStatement {
        StoreStatement("UPDATE outcomes SET shadow_scores = NULL WHERE \(inList("event_id"))", SQLArgument.textList(eventIDs))
    }

    func insertErasure(_ record: ErasureRecord) -> StoreStatement {
        insertErasures([record])[0]
    }

    /// Many records in few statements (a month of outcomes dropped whole erases for every subject in it).
    func insertErasures(_ records: [ErasureRecord]) -> [StoreStatement] {
        records[...].slices(of: 5_000).map { slice in
            StoreStatement("""
                INSERT INTO erasures (erasure_id, subject_pseudonym, purpose, cause, trigger_ref, requested_at, erased_at, outcomes_erased,
                                      batches_redacted, locations)
                VALUES \(Array(repeating: "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", count: slice.count).joined(separator: ", "))
                """, arguments: slice.flatMap { record -> [any SQLArgumentConvertible] in
                    [record.erasureID, record.pseudonym, record.purpose.rawValue, record.cause.rawValue, record.trigger,
                     record.requestedAt, record.erasedAt, record.outcomesErased, record.batchesRedacted,
                     StoredList.encode(record.locations)]
                })
        }
    }

    let erasures = StoreStatement("SELECT * FROM erasures ORDER BY erased_at")

    func erasure(id: String) -> StoreStatement {
        StoreStatement("SELECT * FROM erasures WHERE erasure_id = ?", id)
    }

    /// Per jurisdiction, its retention of outcomes (read by `RetentionCutoff`).
    let retentionOfOutcomes = StoreStatement("""
        SELECT j.name, j.biometric_law, r.days FROM jurisdictions j
        JOIN retention_rules r ON r.jurisdiction = j.name AND r.purpose = ?
        """, Purpose.outcomeStorage.rawValue)

    /// The outcomes of a jurisdiction, by the site they were captured at.
    private static let outcomesOfJurisdiction = "FROM outcomes o WHERE \(ofJurisdiction("o"))"

    func subjectsHeldBefore(_ cutoff: Date, jurisdiction: String) -> StoreStatement {
        StoreStatement("SELECT DISTINCT h.subject_pseudonym FROM (\(outcomesHeldBefore)) h WHERE \(Self.ofJurisdiction("h"))",
                       cutoff, cutoff, jurisdiction)
    }

    /// Subjects whose last outcome is held since before `time` (BIPA's last interaction): those
    /// with an outcome held since before it and none since, each checked through the subject index.
    func subjectsIdleSince(_ time: Date, jurisdiction: String) -> StoreStatement {
        StoreStatement("""
            SELECT DISTINCT h.subject_pseudonym FROM (\(outcomesHeldBefore)) h WHERE \(Self.ofJurisdiction("h"))
            AND NOT EXISTS (SELECT 1 \(Self.outcomesOfJurisdiction) AND o.subject_pseudonym = h.subject_pseudonym AND \(heldSince) >= ?)
            """, time, time, jurisdiction, jurisdiction, time)
    }

    /// Whether the subject still has an outcome of the jurisdiction held since before
    /// `cutoff` (a candidate of `subjectsHeldBefore`, checked through the subject index).
    func subjectHeldBefore(_ pseudonym: String, _ cutoff: Date, jurisdiction: String) -> StoreStatement {
        StoreStatement("SELECT 1 \(Self.outcomesOfJurisdiction) AND o.subject_pseudonym = ? AND \(heldSince) < ? LIMIT 1",
                       jurisdiction, pseudonym, cutoff)
    }

    /// Whether the subject has an outcome of the jurisdiction held since `time` or later: not
    /// idle (`subjectsIdleSince`) when it has.
    func subjectHeldSince(_ pseudonym: String, _ time: Date, jurisdiction: String) -> StoreStatement {
        StoreStatement("SELECT 1 \(Self.outcomesOfJurisdiction) AND o.subject_pseudonym = ? AND \(heldSince) >= ? LIMIT 1",
                       jurisdiction, pseudonym, time)
    }

    func overdueOutcomes(jurisdiction: String, heldBefore cutoff: Date) -> StoreStatement {
        StoreStatement("""
            SELECT COUNT(*) AS n, MIN(\(heldSince(of: "h"))) AS oldest FROM (\(outcomesHeldBefore)) h WHERE \(Self.ofJurisdiction("h"))
            """, cutoff, cutoff, jurisdiction)
    }

    // MARK: Reports

    /// Every withdrawal in force, with the erasure it triggered and the outcomes attempted
    /// after it that are still stored (unless a later grant covers them).
    let withdrawals = StoreStatement("""
        SELECT c.event_id, c.subject_pseudonym, c.purpose, c.occurred_at, c.received_at, e.erased_at, c.blocked_at,
               (SELECT COUNT(*) FROM outcomes o WHERE o.subject_pseudonym = c.subject_pseudonym AND c.purpose = ?
                  AND o.attempted_at >= c.occurred_at
                  AND NOT EXISTS (SELECT 1 FROM consent_events g WHERE g.subject_pseudonym = c.subject_pseudonym
                                  AND g.purpose = c.purpose AND g.kind IN ('grant', 'reconsent') AND g.refusal IS NULL
                                  AND g.occurred_at > c.occurred_at AND g.occurred_at <= o.attempted_at)) AS processed
        FROM consent_events c LEFT JOIN erasures e ON e.trigger_ref = c.event_id
        WHERE c.kind = 'withdraw' AND c.refusal IS NULL ORDER BY c.received_at
        """, Purpose.outcomeStorage.rawValue)

    let materialTextVersions = StoreStatement("""
        SELECT purpose, version, MIN(effective_at) AS effective_at FROM consent_texts WHERE material
        GROUP BY purpose, version ORDER BY effective_at
        """)

    /// Subjects whose consent cites an older text than `version`, and how many of them
    /// consented to `version` since.
    func reconsentCounts(purpose: String, version: String) -> StoreStatement {
        StoreStatement("""
            SELECT COUNT(DISTINCT subject_pseudonym) AS needing,
                   COUNT(DISTINCT CASE WHEN EXISTS (
                       SELECT 1 FROM consent_events r WHERE r.subject_pseudonym = c.subject_pseudonym AND r.purpose = c.purpose
                       AND r.kind IN ('grant', 'reconsent') AND r.refusal IS NULL AND r.text_version = ?)
                       THEN subject_pseudonym END) AS done
            FROM consent_events c
            WHERE c.purpose = ? AND c.kind IN ('grant', 'reconsent') AND c.refusal IS NULL AND c.text_version <> ?
            """, version, purpose, version)
    }

    // MARK: Data-subject requests

    func subjectConsentEvents(_ pseudonym: String) -> StoreStatement {
        StoreStatement("SELECT * FROM consent_events WHERE subject_pseudonym = ? ORDER BY occurred_at, arrival", pseudonym)
    }

    func subjectOutcomes(_ pseudonym: String) -> StoreStatement {
        StoreStatement("""
            SELECT event_id, device_id, attempted_at, model_version, threshold_version, site, camera_model, tags, score, decision,
                   label, label_source, face_size_px, sharpness, brightness, liveness_score, consent_ref, shadow_model_version,
                   shadow_score, shadow_scores
            FROM outcomes WHERE subject_pseudonym = ? ORDER BY attempted_at
            """, pseudonym)
    }

    func subjectErasures(_ pseudonym: String) -> StoreStatement {
        StoreStatement("SELECT * FROM erasures WHERE subject_pseudonym = ? ORDER BY erased_at", pseudonym)
    }

    func subjectRequests(_ pseudonym: String) -> StoreStatement {
        StoreStatement("SELECT * FROM subject_requests WHERE subject_pseudonym = ? ORDER BY received_at", pseudonym)
    }

    func insertSubjectRequest(_ request: SubjectRequestRecord) -> StoreStatement {
        StoreStatement("""
            INSERT INTO subject_requests (request_id, subject_pseudonym, kind, jurisdiction, received_at, due_at) VALUES (?, ?, ?, ?, ?, ?)
            """, request.requestID, request.pseudonym, request.kind.rawValue, request.jurisdiction, request.receivedAt, request.dueAt)
    }

    /// Keeps only the SHA-256 of the answer given.
    func completeSubjectRequest(id: String, at time: Date, resultSHA256: String) -> StoreStatement {
        StoreStatement("UPDATE subject_requests SET completed_at = ?, result = ? WHERE request_id = ? AND completed_at IS NULL",
                       time, [UInt8](resultSHA256.utf8), id)
    }

    func subjectRequest(id: String) -> StoreStatement {
        StoreStatement("SELECT * FROM subject_requests WHERE request_id = ?", id)
    }

    let subjectRequests = StoreStatement("SELECT * FROM subject_requests ORDER BY due_at")

    // MARK: Audit log

    let nextAuditIndex = StoreStatement("SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_entries")

    /// The entries numbered from `firstIndex` on, in statements of at most 30,000 parameters
    /// (a large retention sweep appends many).
    func insertAuditEntries(_ entries: [PendingAuditEntry], firstIndex: Int) throws -> [StoreStatement] {
        try stride(from: 0, to: entries.count, by: 10_000).map { start in
            let slice = entries[start..<min(start + 10_000, entries.count)]
            var arguments: [any SQLArgumentConvertible] = []
            for (offset, entry) in zip(start..., slice) {
                let bytes = try entry.entryBytes(index: firstIndex + offset)
                arguments += [firstIndex + offset, bytes, MerkleTree.leafHash(bytes).bytes]
            }
            return StoreStatement("INSERT INTO audit_entries (idx, entry, leaf_hash) VALUES "
                                  + Array(repeating: "(?, ?, ?)", count: slice.count).joined(separator: ", "), arguments: arguments)
        }
    }

    let auditTreeSize = StoreStatement("SELECT COUNT(*) FROM audit_entries")

    func auditEntries(from: Int, to: Int) -> StoreStatement {
        StoreStatement("SELECT entry FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx", from, to)
    }

    func auditLeafHashes(count: Int) -> StoreStatement {
        StoreStatement("SELECT leaf_hash FROM audit_entries WHERE idx < ? ORDER BY idx", count)
    }

    func upsertAuditCheckpoint(treeSize: Int, checkpoint: [UInt8]) -> StoreStatement {
        StoreStatement("""
            INSERT INTO audit_checkpoints (tree_size, checkpoint) VALUES (?, ?)
            ON CONFLICT (tree_size) DO UPDATE SET checkpoint = excluded.checkpoint
            """, treeSize, checkpoint)
    }

    let auditCheckpoints = StoreStatement("SELECT * FROM audit_checkpoints ORDER BY tree_size")
}

import Compliance
import FeedbackWire
import Foundation

/// What storing one batch does, decided from what the store has read; no I/O. A back end
/// runs it in one transaction: nonce, `resend`, the batch row, each `ConsentEventIntake`, the
/// consent state (`ConsentCache`), the stored event ids, then this plan's `change`.
struct BatchIntake {
    /// The outcomes to store, in batch order, without the shadow scores dropped.
    var accepted: [MatchOutcome]
    /// Entries of `shadow_scores` left out of accepted outcomes because their subject had no
    /// model-improvement consent in force at the attempt (the outcome itself is stored).
    var shadowScoresDropped: Int
    /// The consent events not put in force, then the outcomes left out, with their reasons.
    var refused: [BatchReceipt.RefusedEvent]
    var receipt: [UInt8]
    /// A refused outcome must leave nothing behind, not even inside the signed body.
    var redactsBody: Bool
    /// Refused events per reason, in reason order (the order PostgreSQL locks the counters in).
    var refusalCounts: [(reason: String, events: Int)]
    /// Every outcome of the batch is stored as it came: what `PreparedBatch` assumed.
    var acceptsEverything: Bool

    /// A batch that withdraws a consent erases stored outcomes: PostgreSQL takes the consent
    /// lock alone for it, SQLite truncates its log after it.
    static func withdraws(_ batch: OutcomeBatch) -> Bool {
        batch.consentEvents.contains { $0.kind == .withdraw }
    }

    /// The answer to a batch whose device and sequence are stored already (`StoreSQL.batch`):
    /// the same bytes get the original receipt (and the nonce is kept); other bytes conflict
    /// and the transaction rolls back.
    static func resend(_ incoming: IncomingBatch, stored: some StoreRow) throws -> BatchStoreResult {
        guard try stored.text("content_digest") == incoming.contentDigest else { throw StoreAbort.batch(.sequenceConflict) }
        return .alreadyStored(receipt: try stored.bytes("receipt"))
    }

    /// The subjects whose model-improvement consent decides whether their outcomes' shadow
    /// scores are stored: those of outcomes that carry `shadow_scores`.
    static func shadowScoreSubjects(_ batch: OutcomeBatch) -> [String] {
        batch.outcomes.filter { !$0.shadowScores.isEmpty }.map(\.subject.pseudonym)
    }

    /// Decides the outcomes once the batch's consent events are recorded (an outcome may rely
    /// on a consent recorded just before it). An outcome without consent in force at its
    /// attempt is refused; the first accepted outcome whose id is stored already, or repeats
    /// one before it, refuses the whole batch (`StoreAbort`).
    /// An outcome whose pseudonym names a key version its site's jurisdiction does not have is
    /// refused before its consent is looked at (`keyVersions`).
    /// An accepted outcome's `shadow_scores` are the candidate pipelines' results on the
    /// subject's face, processed to improve the model: they are stored only when the subject's
    /// model-improvement consent is in force at the attempt (`consent` must hold that purpose
    /// for `shadowScoreSubjects`). The kiosk checks its own ledger before it scores, but the
    /// server's may know better (a withdrawal recorded at another kiosk).
    init(_ incoming: IncomingBatch, consentEventRefusals: [BatchReceipt.RefusedEvent], consent: ConsentCache,
         storedEventIDs: Set<String>, keyVersions: KeyVersions, receiptIfAllStored: [UInt8]? = nil) throws {
        let batch = incoming.batch
        refused = consentEventRefusals
        shadowScoresDropped = 0
        // Nearly every batch is stored as it came: its outcomes are copied into a list of
        // their own only from the first one refused or changed.
        var changed: [MatchOutcome]?
        // The outcomes kept so far, copied once the outcome at `index` is not kept as it came.
        func diverge(at index: Int) {
            if changed == nil { changed = Array(batch.outcomes[..<index]) }
        }
        var seen = Set<UUID>(minimumCapacity: batch.outcomes.count)
        for (index, outcome) in batch.outcomes.enumerated() {
            if let refusal = keyVersions.refusal(eventID: outcome.eventID, site: outcome.cohort.site, version: outcome.subject.keyVersion) {
                refused.append(refusal)
                diverge(at: index)
                continue
            }
            if let refusal = consent.refusal(pseudonym: outcome.subject.pseudonym, purpose: .outcomeStorage, at: outcome.attemptedAt) {
                refused.append(.init(eventID: outcome.eventID, reason: refusal.rawValue, detail: refusal.explanation))
                diverge(at: index)
                continue
            }
            guard seen.insert(outcome.eventID).inserted, storedEventIDs.isEmpty || !storedEventIDs.contains(outcome.eventID.lowercaseText) else {
                throw StoreAbort.batch(.duplicateEvent(outcome.eventID))
            }
            if !outcome.shadowScores.isEmpty,
               consent.refusal(pseudonym: outcome.subject.pseudonym, purpose: .modelImprovement, at: outcome.attemptedAt) != nil {
                shadowScoresDropped += outcome.shadowScores.count
                var withoutShadowScores = outcome
                withoutShadowScores.shadowScores = []
                diverge(at: index)
                changed?.append(withoutShadowScores)
            } else {
                changed?.append(outcome)
            }
        }
        accepted = changed ?? batch.outcomes
        // A consent event refused for its key version is not stored either, body included;
        // nor are dropped shadow scores, which the signed body still holds.
        acceptsEverything = accepted.count == batch.outcomes.count && shadowScoresDropped == 0
        redactsBody = !acceptsEverything
            || refused.contains { $0.reason == KeyVersions.refusalReason }
        refusalCounts = Dictionary(refused.map { ($0.reason, 1) }, uniquingKeysWith: +).sorted { $0.key < $1.key }
            .map { (reason: $0.key, events: $0.value) }
        if let receiptIfAllStored, acceptsEverything, refused.isEmpty {
            receipt = receiptIfAllStored
        } else {
            receipt = Self.receipt(incoming, acceptedEvents: accepted.count, refused: refused, shadowScoresDropped: shadowScoresDropped)
        }
    }

    /// `receiptIfAllStored` is `receipt(incoming, acceptedEvents: all, refused: [], shadowScoresDropped: 0)`,
    /// made beforehand (`PreparedBatch`).
    static func receipt(_ incoming: IncomingBatch, acceptedEvents: Int, refused: [BatchReceipt.RefusedEvent],
                        shadowScoresDropped: Int) -> [UInt8] {
        let batch = incoming.batch
        return BatchReceipt(
            batchID: incoming.batchID, deviceID: batch.deviceID, sequence: batch.sequence, contentDigest: incoming.contentDigest,
            acceptedEvents: acceptedEvents, consentEvents: batch.consentEvents.count, refusedEvents: refused,
            shadowScoresDropped: shadowScoresDropped, storedAt: incoming.receivedAt).encoded()
    }

    /// The ids stored outcomes would collide with: `StoreSQL.storedOutcomeIDs` of these.
    static func eventIDs(_ batch: OutcomeBatch) -> [String] {
        batch.outcomes.map(\.eventID.lowercaseText)
    }

    /// Everything the plan writes: the batch row (with its count, receipt and redaction), the
    /// outcomes, the refusal counters and the kiosk's backlog. `allOutcomeStatements`, the
    /// outcome statements of the whole batch made beforehand, are taken when every outcome is
    /// accepted. `storedBody` is what the batch row keeps of the signed body (`insertBatch`).
    func change(_ incoming: IncomingBatch, batchID: String, sql: StoreSQL, storedBody: [UInt8],
                allOutcomeStatements: [StoreStatement]? = nil) -> StoreChange {
        let batch = incoming.batch
        var statements = [sql.insertBatch(incoming, batchID: batchID, acceptedEvents: accepted.count, receipt: receipt,
                                          redacted: redactsBody, storedBody: storedBody)]
        if acceptsEverything, let allOutcomeStatements {
            statements += allOutcomeStatements
        } else {
            statements += sql.insertOutcomes(accepted, batchID: batchID, deviceID: batch.deviceID, receivedAt: incoming.receivedAt)
        }
        statements += refusalCounts.map { sql.addRefusedEvents(deviceID: batch.deviceID, reason: $0.reason, events: $0.events) }
        if let backlog = batch.queueBacklog {
            statements.append(sql.reportBacklog(backlog, sealedAt: batch.createdAt, deviceID: batch.deviceID))
        }
        return StoreChange(statements)
    }
}

/// One uploaded consent event as the store records it. An event whose text the server does
/// not know (or whose hash differs) is kept for review but never put in force, and listed as
/// refused; a withdrawal in force erases what is held for its purpose at once.
struct ConsentEventIntake: Sendable {
    var event: ConsentEvent
    var refusal: BatchReceipt.RefusedEvent?
    /// Changes no row when the event id is stored already: the batch is then refused (`duplicate`).
    var insert: StoreStatement
    var audit: PendingAuditEntry
    var erasure: SubjectErasure?

    /// `registeredHashes` are those of the text the event cites (`StoreSQL.consentTextHashes`).
    init(_ event: ConsentEvent, deviceID: String, batchID: String, receivedAt: Date, registeredHashes: [String], now: Date,
         sql: StoreSQL) throws {
        let eventID = event.eventID.uuidString.lowercased()
        self.event = event
        refusal = StoreAuditDetails.consentRefusal(event, registeredHashes: registeredHashes)
        insert = sql.insertConsentEvent(event, deviceID: deviceID, batchID: batchID, receivedAt: receivedAt, refusal: refusal?.reason)
        audit = try PendingAuditEntry(.consentEvent, actor: "device:\(deviceID)",
                                      details: StoreAuditDetails.consentEvent(event, eventID: eventID, deviceID: deviceID,
                                                                              refusal: refusal?.reason),
                                      at: receivedAt)
        if refusal == nil, event.kind == .withdraw, let purpose = Purpose(rawValue: event.purpose) {
            erasure = SubjectErasure(pseudonym: event.pseudonym, purpose: purpose, cause: .withdrawal, trigger: eventID,
                                     requestedAt: receivedAt, actor: "device:\(deviceID)", time: now)
        }
    }

    var duplicate: StoreAbort { .batch(.duplicateEvent(event.eventID)) }
}

/// The consent state of subjects, read once per subject and purpose, and the decisions it
/// implies (`ConsentLedger`). It reads nothing itself: `load(for:)` says what to read, the
/// back end runs those statements and hands the rows to `add`.
struct ConsentCache {
    /// Per purpose, then per pseudonym: looked up for every outcome of every batch, so no key
    /// is built for a lookup.
    private var records: [Purpose: [String: ConsentHistory]] = [:]
    private var texts: [Purpose: [ConsentText]] = [:]

    /// What to read before deciding for subjects some of which are not loaded yet.
    struct Load {
        var pseudonyms: [String]
        var purpose: Purpose
        var records: StoreStatement
        var requestedErasures: StoreStatement
        /// nil when the purpose's texts are loaded already.
        var texts: StoreStatement?
    }

    /// Subjects (per purpose) loaded so far, to bound a cache kept between batches.
    var subjectCount: Int { records.values.reduce(0) { $0 + $1.count } }

    /// A consent event just recorded in force, with the arrival the store gave it: added to its
    /// subject's records when they are loaded, as `add` would read it back (`StoreRows.consentRecord`,
    /// the time through its stored seconds).
    mutating func recorded(_ event: ConsentEvent, arrival: Int64) {
        guard let purpose = Purpose(rawValue: event.purpose), records[purpose]?[event.pseudonym] != nil,
              let kind = ConsentRecord.Kind(rawValue: event.kind.rawValue) else { return }
        records[purpose]?[event.pseudonym]?.add(ConsentRecord(
            kind: kind, occurredAt: Date(timeIntervalSince1970: event.occurredAt.timeIntervalSince1970),
            textVersion: event.textVersion, arrival: arrival))
    }

    /// nil when everything about these subjects and the purpose is loaded.
    func load(for pseudonyms: [String], purpose: Purpose, sql: StoreSQL) -> Load? {
        let missing = Array(Set(pseudonyms.filter { records[purpose]?[$0] == nil })).sorted()
        let textsMissing = texts[purpose] == nil
        guard !missing.isEmpty || textsMissing else { return nil }
        return Load(pseudonyms: missing, purpose: purpose, records: sql.consentRecords(pseudonyms: missing, purpose: purpose),
                    requestedErasures: sql.requestedErasures(pseudonyms: missing, purpose: purpose),
                    texts: textsMissing ? sql.consentTexts(purpose: purpose) : nil)
    }

    /// The rows of a `Load`'s statements (`texts` only when it had one).
    mutating func add(_ load: Load, records recordRows: [some StoreRow], requestedErasures erasureRows: [some StoreRow],
                      texts textRows: [some StoreRow]) throws {
        var loaded = Dictionary(uniqueKeysWithValues: load.pseudonyms.map { ($0, [ConsentRecord]()) })
        for row in recordRows {
            guard let (pseudonym, record) = try StoreRows.consentRecord(row) else { continue }
            loaded[pseudonym, default: []].append(record)
        }
        for row in erasureRows {
            let (pseudonym, record) = try StoreRows.requestedErasure(row)
            loaded[pseudonym, default: []].append(record)
        }
        for (pseudonym, subjectRecords) in loaded { records[load.purpose, default: [:]][pseudonym] = ConsentHistory(subjectRecords) }
        if load.texts != nil { texts[load.purpose] = try textRows.compactMap { try StoreRows.consentText($0) } }
    }

    /// nil when the subject's consent to `purpose` is in force at `moment`, else why not.
    /// A subject not loaded has no consent.
    func refusal(pseudonym: String, purpose: Purpose, at moment: Date) -> ConsentRefusal? {
        guard let history = records[purpose]?[pseudonym] else { return .noConsent }
        return history.decision(at: moment, texts: texts[purpose] ?? [])
    }

    /// The answer to a kiosk's question (`ComplianceStore.consentDecisions`): subjects outside
    /// `answerable` (those at the kiosk's own sites) get `no-consent`, as unknown ones would.
    func decisions(_ pseudonyms: [String], purpose: Purpose, at moment: Date, answerable: Set<String>) -> [String: ConsentRefusal?] {
        var decisions: [String: ConsentRefusal?] = [:]
        for pseudonym in pseudonyms where decisions[pseudonym] == nil {
            decisions[pseudonym] = .some(answerable.contains(pseudonym) ? refusal(pseudonym: pseudonym, purpose: purpose, at: moment)
                                                                        : .noConsent)
        }
        return decisions
    }
}

import FeedbackWire

/// What storing a batch on SQLite needs from the batch alone, worked out on the uploading
/// task before the batch waits for the writer: one connection writes every batch, so work it
/// does not need to do there is work taken off the rate of intake (the outcome statements
/// and the statistics were about a sixth of the writer's time, the receipt a fortieth). All
/// are as they are when every outcome is accepted and no subject is restricted, which is
/// nearly always; `SQLiteStore` works them out again inside the transaction when that is not so.
struct PreparedBatch: Sendable {
    var incoming: IncomingBatch
    var batchID: String
    /// `StoreSQL.insertOutcomes` of every outcome of the batch, packed for SQLite only
    /// (`StoreSQL.packedOutcomeInserts`: no `arguments`).
    var outcomeStatements: [StoreStatement]
    /// `ScoreStatisticsMaintenance.subjects(of:)` of every outcome.
    var subjects: [String]
    /// `ScoreStatisticsMaintenance.stored` of every outcome, no subject restricted.
    var statistics: StatisticsDelta
    /// What the batch row keeps of the signed body unless it is redacted (`StoredBatchBody`).
    var storedBody: [UInt8]
    /// The receipt when every outcome is stored and no event refused.
    var receiptIfAllStored: [UInt8]
    /// Each consent event's `ConsentEventIntake` as the writer would make it were the event's
    /// text registered (its statement and its audit entry, written but for the index): a
    /// kiosk's first batch carries a grant for each of its subjects. None is refused. nil for a
    /// withdrawal, whose erasure takes the time it runs at, and where making it failed; the
    /// writer then makes it.
    var consentIntakes: [ConsentEventIntake?]

    init(_ incoming: IncomingBatch, sql: StoreSQL) throws {
        let batch = incoming.batch
        self.incoming = incoming
        batchID = incoming.batchID.lowercaseText
        outcomeStatements = sql.packedOutcomeInserts(batch.outcomes, batchID: batchID, deviceID: batch.deviceID, receivedAt: incoming.receivedAt)
        subjects = ScoreStatisticsMaintenance.subjects(of: batch.outcomes)
        statistics = try ScoreStatisticsMaintenance.stored(batch.outcomes, deviceID: batch.deviceID, restricted: [])
        storedBody = StoredBatchBody.compressed(incoming.body)
        receiptIfAllStored = BatchIntake.receipt(incoming, acceptedEvents: batch.outcomes.count, refused: [], shadowScoresDropped: 0)
        consentIntakes = batch.consentEvents.map { [batchID] event in
            guard event.kind != .withdraw else { return nil }
            let intake = try? ConsentEventIntake(event, deviceID: batch.deviceID, batchID: batchID, receivedAt: incoming.receivedAt,
                                                 registeredHashes: [event.textSHA256], now: incoming.receivedAt, sql: sql)
            return intake?.refusal == nil ? intake : nil
        }
    }
}

import Foundation

/// A consent event as the ledger needs it: which decision, when, and under which text.
public struct ConsentRecord: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable { case grant, withdraw, limit, reconsent }

    public var kind: Kind
    public var occurredAt: Date
    public var textVersion: String
    /// Ties at the same instant are broken by arrival order: the later upload wins.
    public var arrival: Int64

    public init(kind: Kind, occurredAt: Date, textVersion: String, arrival: Int64) {
        self.kind = kind
        self.occurredAt = occurredAt
        self.textVersion = textVersion
        self.arrival = arrival
    }
}

/// One version of the consent text for a purpose.
public struct ConsentText: Sendable, Equatable, Codable {
    public var purpose: Purpose
    public var version: String
    public var language: String
    public var sha256: String
    public var effectiveAt: Date
    /// A material change: consents given under earlier versions no longer count for
    /// processing after `effectiveAt` until the subject consents again.
    public var material: Bool

    public init(purpose: Purpose, version: String, language: String, sha256: String, effectiveAt: Date, material: Bool) {
        self.purpose = purpose
        self.version = version
        self.language = language
        self.sha256 = sha256
        self.effectiveAt = effectiveAt
        self.material = material
    }

    enum CodingKeys: String, CodingKey {
        case purpose, version, language, sha256, effectiveAt = "effective_at", material
    }
}

/// Why an outcome may not be processed.
public enum ConsentRefusal: String, Sendable, Equatable, Codable, CaseIterable {
    case noConsent = "no-consent"
    case withdrawn = "consent-withdrawn"
    case limited = "consent-limited"
    case reconsentRequired = "reconsent-required"

    public var explanation: String {
        switch self {
        case .noConsent: "no consent for this purpose was recorded before the attempt"
        case .withdrawn: "the subject had withdrawn consent for this purpose before the attempt"
        case .limited: "the subject had restricted processing for this purpose before the attempt"
        case .reconsentRequired: "the consent text changed materially and the subject had not consented again before the attempt"
        }
    }
}

/// Decides whether a subject's consent for one purpose covered a moment.
///
/// The rule: the latest consent event at or before the moment decides. A grant or re-consent
/// covers it, unless a material text change took effect at or before the moment and the
/// consent was given under an older text. A withdrawal or a limit does not cover it. And a
/// withdrawal after the moment reaches back: what it erased must not arrive later either.
public enum ConsentLedger {
    /// - Parameters:
    ///   - records: the subject's events for this purpose, in any order.
    ///   - texts: the purpose's text versions (all languages).
    public static func decision(at moment: Date, records: [ConsentRecord], texts: [ConsentText]) -> ConsentRefusal? {
        // One pass, no intermediate arrays: the store decides this for every outcome it takes.
        var decisive: ConsentRecord?
        for record in records {
            if record.kind == .withdraw, record.occurredAt > moment { return .withdrawn }
            // The latest by time, then arrival; the first of equals, as `max(by:)` keeps.
            if record.occurredAt <= moment,
               decisive.map({ ($0.occurredAt, $0.arrival) < (record.occurredAt, record.arrival) }) ?? true {
                decisive = record
            }
        }
        guard let decisive else { return .noConsent }
        return verdict(of: decisive, at: moment, texts: texts)
    }

    /// What the decisive record (the latest at or before `moment`) says, with no withdrawal after it.
    static func verdict(of decisive: ConsentRecord, at moment: Date, texts: [ConsentText]) -> ConsentRefusal? {
        switch decisive.kind {
        case .withdraw: return .withdrawn
        case .limit: return .limited
        case .grant, .reconsent:
            var latestMaterialChange: Date?
            for text in texts where text.material && text.effectiveAt <= moment {
                latestMaterialChange = max(latestMaterialChange ?? text.effectiveAt, text.effectiveAt)
            }
            guard let latestMaterialChange else { return nil }
            // The consent counts when its own text took effect no earlier than the latest
            // material change, i.e. the subject saw the changed text (or a later one).
            let consentTextEffective = texts.first { $0.version == decisive.textVersion }?.effectiveAt
            guard let consentTextEffective, consentTextEffective >= latestMaterialChange else { return .reconsentRequired }
            return nil
        }
    }
}

/// A subject's consent records for one purpose in the ledger's order (time, then arrival;
/// equals in the order they were added), so that a decision reads the records around its
/// moment instead of every record: the store decides for every outcome it takes, and a
/// subject who consents at every visit would otherwise make each later decision longer.
/// Decides exactly as `ConsentLedger.decision` over the same records.
public struct ConsentHistory: Sendable {
    public private(set) var records: [ConsentRecord] = []
    /// Any withdrawal after a moment refuses it, whatever came before.
    private var latestWithdrawal: Date?

    public init(_ records: [ConsentRecord] = []) {
        self.records = records.enumerated().sorted { lhs, rhs in
            (lhs.element.occurredAt, lhs.element.arrival, lhs.offset) < (rhs.element.occurredAt, rhs.element.arrival, rhs.offset)
        }.map(\.element)
        latestWithdrawal = records.filter { $0.kind == .withdraw }.map(\.occurredAt).max()
    }

    /// Adds a record after every one it does not precede: at the end when it is the latest,
    /// as a newly recorded event nearly always is.
    public mutating func add(_ record: ConsentRecord) {
        if record.kind == .withdraw { latestWithdrawal = max(latestWithdrawal ?? record.occurredAt, record.occurredAt) }
        let key = (record.occurredAt, record.arrival)
        guard let last = records.last, (last.occurredAt, last.arrival) > key else {
            records.append(record)
            return
        }
        records.insert(record, at: firstIndex { ($0.occurredAt, $0.arrival) > key })
    }

    public func decision(at moment: Date, texts: [ConsentText]) -> ConsentRefusal? {
        if let latestWithdrawal, latestWithdrawal > moment { return .withdrawn }
        let end = firstIndex { $0.occurredAt > moment }
        guard end > 0 else { return .noConsent }
        // The latest at or before the moment; of records equal in time and arrival, the first added.
        var decisive = end - 1
        while decisive > 0, records[decisive - 1].occurredAt == records[decisive].occurredAt,
              records[decisive - 1].arrival == records[decisive].arrival {
            decisive -= 1
        }
        return ConsentLedger.verdict(of: records[decisive], at: moment, texts: texts)
    }

    /// The first index whose record satisfies `isAfter`, which holds for a suffix of `records`.
    private func firstIndex(where isAfter: (ConsentRecord) -> Bool) -> Int {
        var low = 0, high = records.count
        while low < high {
            let middle = (low + high) / 2
            if isAfter(records[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}

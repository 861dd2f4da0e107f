import Foundation
import StrictJSON

/// An upload as agents write it, read in one pass over its bytes straight into an
/// ``OutcomeBatch``: every rule of `outcome-batch.schema.json` and the rules across fields are
/// checked on the way, without a document tree, a member looked up by name or a pointer spelled.
/// Parsing into a tree, walking it with the schema and decoding the tree took half of the
/// request threads' time at ingest.
///
/// It reads a subset of the valid uploads, those with strings of printable ASCII without
/// escapes and each member once, and declines (`nil`) any other body, valid or not. The
/// validator then reads that body the general way, which decides and explains every
/// refusal. So what this reader accepts, the general way accepts as the same batch; the
/// tests and the upload fuzzer compare the two.
enum OutcomeBatchReader {
    static func read(_ body: some Collection<UInt8>) -> OutcomeBatch? {
        if let read = body.withContiguousStorageIfAvailable({ bytes in read(bytes: bytes) }) { return read }
        return Array(body).withUnsafeBufferPointer { bytes in read(bytes: bytes) }
    }

    static func read(bytes: UnsafeBufferPointer<UInt8>) -> OutcomeBatch? {
        var cursor = Cursor(bytes: bytes)
        do {
            let batch = try batch(&cursor)
            cursor.skipWhitespace()
            return cursor.at == bytes.count ? batch : nil
        } catch {
            return nil
        }
    }

    // MARK: - Schema rules, as in outcome-batch.schema.json (`OutcomeBatchReaderTests` spells values on both sides of each)

    static let largestSequence = 9_007_199_254_740_991.0
    static let largestBacklog = 100_000_000.0
    static let mostConsentEvents = 1000
    static let mostOutcomes = 1000
    static let mostTags = 8
    static let largestFaceSize = 100_000.0
    static let largestSharpness = 1_000_000.0
    static let largestKeyVersion = 1_000_000.0
    static let longestToken = 64
    static let longestConsentRef = 128

    private static func batch(_ c: inout Cursor) throws(Declined) -> OutcomeBatch {
        var seen = Seen()
        var deviceID: String?
        var sequence: Int64?
        var createdAt: Date?
        var queueBacklog: Int?
        var consentEvents: [ConsentEvent] = []
        var outcomes: [MatchOutcome]?
        try c.openObject()
        repeat {
            let name = try c.memberName()
            switch name {
            case "protocol":
                try seen.mark(0)
                guard try c.string().elementsEqual(OutcomeBatch.protocolName.utf8) else { throw Declined() }
            case "device_id":
                try seen.mark(1)
                let id = String(decoding: try c.string(), as: UTF8.self)
                guard DeviceID.isValid(id) else { throw Declined() }
                deviceID = id
            case "sequence":
                try seen.mark(2)
                sequence = Int64(try c.integer(in: 1...largestSequence))
            case "created_at":
                try seen.mark(3)
                createdAt = try c.dateTime()
            case "queue_backlog":
                try seen.mark(4)
                queueBacklog = Int(try c.integer(in: 0...largestBacklog))
            case "consent_events":
                try seen.mark(5)
                try c.openArray(allowingEmpty: false)
                repeat {
                    guard consentEvents.count < mostConsentEvents else { throw Declined() }
                    consentEvents.append(try consentEvent(&c))
                } while try c.moreItems()
            case "outcomes":
                try seen.mark(6)
                var read: [MatchOutcome] = []
                if try c.openArray(allowingEmpty: true) {
                    read.reserveCapacity(min(mostOutcomes, c.bytes.count / 256))
                    repeat {
                        guard read.count < mostOutcomes else { throw Declined() }
                        read.append(try outcome(&c))
                    } while try c.moreItems()
                }
                outcomes = read
            default:
                throw Declined()
            }
        } while try c.moreMembers()
        guard let deviceID, let sequence, let createdAt, let outcomes, seen.has(0),
              !outcomes.isEmpty || !consentEvents.isEmpty
        else { throw Declined() }
        return OutcomeBatch(deviceID: deviceID, sequence: sequence, createdAt: createdAt, outcomes: outcomes,
                            consentEvents: consentEvents, queueBacklog: queueBacklog)
    }

    private static func outcome(_ c: inout Cursor) throws(Declined) -> MatchOutcome {
        var seen = Seen()
        var eventID: UUID?
        var attemptedAt: Date?
        var modelVersion: String?
        var thresholdVersion: String?
        var cohort: MatchOutcome.Cohort?
        var score: Double?
        var decision: MatchOutcome.Decision?
        var label: MatchOutcome.Label?
        var labelSource: MatchOutcome.LabelSource?
        var quality: MatchOutcome.CaptureQuality?
        var livenessScore: Double?
        var subject: MatchOutcome.SubjectReference?
        var shadow: MatchOutcome.ShadowScore?
        var shadowScores: [MatchOutcome.ShadowScore] = []
        try c.openObject()
        repeat {
            let name = try c.memberName()
            switch name {
            case "event_id":
                try seen.mark(0)
                guard let id = UUIDText.parse(utf8: try c.string()) else { throw Declined() }
                eventID = id
            case "attempted_at":
                try seen.mark(1)
                attemptedAt = try c.dateTime()
            case "model_version":
                try seen.mark(2)
                modelVersion = try c.token(longest: longestToken)
            case "threshold_version":
                try seen.mark(3)
                thresholdVersion = try c.token(longest: longestToken)
            case "cohort":
                try seen.mark(4)
                cohort = try self.cohort(&c)
            case "score":
                try seen.mark(5)
                score = try c.number(in: -1...1)
            case "decision":
                try seen.mark(6)
                switch try c.string() {
                case "accept": decision = .accept
                case "reject": decision = .reject
                default: throw Declined()
                }
            case "label":
                try seen.mark(7)
                switch try c.string() {
                case "genuine": label = .genuine
                case "impostor": label = .impostor
                case "unknown": label = .unknown
                default: throw Declined()
                }
            case "label_source":
                try seen.mark(8)
                switch try c.string() {
                case "fallback_id_check": labelSource = .fallbackIDCheck
                case "operator": labelSource = .operator
                case "user_dispute": labelSource = .userDispute
                case "none": labelSource = MatchOutcome.LabelSource.none
                default: throw Declined()
                }
            case "quality":
                try seen.mark(9)
                quality = try self.quality(&c)
            case "liveness_score":
                try seen.mark(10)
                livenessScore = try c.number(in: 0...1)
            case "subject":
                try seen.mark(11)
                subject = try self.subject(&c)
            case "shadow":
                try seen.mark(12)
                shadow = try shadowScore(&c)
            case "shadow_scores":
                try seen.mark(13)
                try c.openArray(allowingEmpty: false)
                repeat {
                    guard shadowScores.count < MatchOutcome.maxShadowScores else { throw Declined() }
                    shadowScores.append(try shadowScore(&c))
                } while try c.moreItems()
            default:
                throw Declined()
            }
        } while try c.moreMembers()
        guard let eventID, let attemptedAt, let modelVersion, let thresholdVersion, let cohort, let score, let decision,
              let label, let labelSource, let quality, let subject
        else { throw Declined() }
        // What a schema cannot say; the general way names the field.
        if let shadow, shadow.modelVersion == modelVersion { throw Declined() }
        if !shadowScores.isEmpty, MatchOutcome.shadowScoresProblem(shadowScores.map(\.modelVersion), modelVersion: modelVersion,
                                                                   shadowVersion: shadow?.modelVersion) != nil {
            throw Declined()
        }
        return MatchOutcome(eventID: eventID, attemptedAt: attemptedAt, modelVersion: modelVersion, thresholdVersion: thresholdVersion,
                            cohort: cohort, score: score, decision: decision, label: label, labelSource: labelSource, quality: quality,
                            livenessScore: livenessScore, subject: subject, shadow: shadow, shadowScores: shadowScores)
    }

    private static func cohort(_ c: inout Cursor) throws(Declined) -> MatchOutcome.Cohort {
        var seen = Seen()
        var site: String?
        var cameraModel: String?
        var tags: [String] = []
        try c.openObject()
        repeat {
            switch try c.memberName() {
            case "site":
                try seen.mark(0)
                site = try c.token(longest: longestToken)
            case "camera_model":
                try seen.mark(1)
                cameraModel = try c.token(longest: longestToken)
            case "tags":
                try seen.mark(2)
                if try c.openArray(allowingEmpty: true) {
                    repeat {
                        guard tags.count < mostTags else { throw Declined() }
                        let tag = try c.token(longest: longestToken)
                        guard !tags.contains(tag) else { throw Declined() }
                        tags.append(tag)
                    } while try c.moreItems()
                }
            default:
                throw Declined()
            }
        } while try c.moreMembers()
        guard let site, let cameraModel else { throw Declined() }
        return MatchOutcome.Cohort(site: site, cameraModel: cameraModel, tags: tags)
    }

    private static func quality(_ c: inout Cursor) throws(Declined) -> MatchOutcome.CaptureQuality {
        var seen = Seen()
        var faceSize: Double?
        var sharpness: Double?
        var brightness: Double?
        try c.openObject()
        repeat {
            switch try c.memberName() {
            case "face_size_px":
                try seen.mark(0)
                faceSize = try c.integer(in: 0...largestFaceSize)
            case "sharpness":
                try seen.mark(1)
                sharpness = try c.number(in: 0...largestSharpness)
            case "brightness":
                try seen.mark(2)
                brightness = try c.number(in: 0...1)
            default:
                throw Declined()
            }
        } while try c.moreMembers()
        guard let faceSize, let sharpness, let brightness else { throw Declined() }
        return MatchOutcome.CaptureQuality(faceSizePx: Int(faceSize), sharpness: sharpness, brightness: brightness)
    }

    private static func subject(_ c: inout Cursor) throws(Declined) -> MatchOutcome.SubjectReference {
        var seen = Seen()
        var pseudonym: String?
        var consentRef: String?
        var keyVersion = 1
        try c.openObject()
        repeat {
            switch try c.memberName() {
            case "pseudonym":
                try seen.mark(0)
                pseudonym = try c.lowercaseHex64()
            case "consent_ref":
                try seen.mark(1)
                consentRef = try c.token(longest: longestConsentRef)
            case "key_version":
                try seen.mark(2)
                keyVersion = Int(try c.integer(in: 1...largestKeyVersion))
            default:
                throw Declined()
            }
        } while try c.moreMembers()
        guard let pseudonym, let consentRef else { throw Declined() }
        return MatchOutcome.SubjectReference(pseudonym: pseudonym, consentRef: consentRef, keyVersion: keyVersion)
    }

    private static func shadowScore(_ c: inout Cursor) throws(Declined) -> MatchOutcome.ShadowScore {
        var seen = Seen()
        var modelVersion: String?
        var score: Double?
        try c.openObject()
        repeat {
            switch try c.memberName() {
            case "model_version":
                try seen.mark(0)
                modelVersion = try c.token(longest: longestToken)
            case "score":
                try seen.mark(1)
                score = try c.number(in: -1...1)
            default:
                throw Declined()
            }
        } while try c.moreMembers()
        guard let modelVersion, let score else { throw Declined() }
        return MatchOutcome.ShadowScore(modelVersion: modelVersion, score: score)
    }

    private static func consentEvent(_ c: inout Cursor) throws(Declined) -> ConsentEvent {
        var seen = Seen()
        var eventID: UUID?
        var occurredAt: Date?
        var pseudonym: String?
        var purpose: String?
        var kind: ConsentEvent.Kind?
        var method: ConsentEvent.Method?
        var site: String?
        var textVersion: String?
        var textSHA256: String?
        var keyVersion = 1
        try c.openObject()
        repeat {
            switch try c.memberName() {
            case "event_id":
                try seen.mark(0)
                guard let id = UUIDText.parse(utf8: try c.string()) else { throw Declined() }
                eventID = id
            case "occurred_at":
                try seen.mark(1)
                occurredAt = try c.dateTime()
            case "subject_pseudonym":
                try seen.mark(2)
                pseudonym = try c.lowercaseHex64()
            case "purpose":
                try seen.mark(3)
                let text = try c.string()
                guard "threshold-calibration" ~= text || "model-improvement" ~= text || "quality-monitoring" ~= text else {
                    throw Declined()
                }
                purpose = String(decoding: text, as: UTF8.self)
            case "kind":
                try seen.mark(4)
                switch try c.string() {
                case "grant": kind = .grant
                case "withdraw": kind = .withdraw
                case "limit": kind = .limit
                case "reconsent": kind = .reconsent
                default: throw Declined()
                }
            case "method":
                try seen.mark(5)
                switch try c.string() {
                case "touch": method = .touch
                case "e_signature": method = .eSignature
                case "paper": method = .paper
                case "operator": method = .operatorEntry
                default: throw Declined()
                }
            case "site":
                try seen.mark(6)
                site = try c.token(longest: longestToken)
            case "text_version":
                try seen.mark(7)
                textVersion = try c.token(longest: longestToken)
            case "text_sha256":
                try seen.mark(8)
                textSHA256 = try c.lowercaseHex64()
            case "key_version":
                try seen.mark(9)
                keyVersion = Int(try c.integer(in: 1...largestKeyVersion))
            default:
                throw Declined()
            }
        } while try c.moreMembers()
        guard let eventID, let occurredAt, let pseudonym, let purpose, let kind, let method, let site, let textVersion, let textSHA256
        else { throw Declined() }
        return ConsentEvent(eventID: eventID, occurredAt: occurredAt, pseudonym: pseudonym, purpose: purpose, kind: kind,
                            method: method, site: site, textVersion: textVersion, textSHA256: textSHA256, keyVersion: keyVersion)
    }

    /// `[A-Za-z0-9_.:-]`: the characters of `Token` and of `consent_ref`, as bits of the ASCII table.
    static let tokenCharacters: (UInt64, UInt64) = {
        var low: UInt64 = 0, high: UInt64 = 0
        for byte in Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-".utf8) {
            if byte < 64 { low |= 1 << UInt64(byte) } else { high |= 1 << UInt64(byte - 64) }
        }
        return (low, high)
    }()
}

/// Not read here: the general way reads it, and refuses it if it is wrong.
private struct Declined: Error {}

/// The members of one object seen so far; a second of the same name is the general reader's
/// to refuse.
private struct Seen {
    private var bits: UInt32 = 0

    mutating func mark(_ index: UInt32) throws(Declined) {
        let bit: UInt32 = 1 << index
        guard bits & bit == 0 else { throw Declined() }
        bits |= bit
    }

    func has(_ index: UInt32) -> Bool { bits & (1 << index) != 0 }
}

private func ~= (pattern: StaticString, value: UnsafeBufferPointer<UInt8>) -> Bool {
    guard value.count == pattern.utf8CodeUnitCount else { return false }
    guard let base = value.baseAddress, value.count > 0 else { return true }
    return memcmp(base, pattern.utf8Start, value.count) == 0
}

private struct Cursor {
    let bytes: UnsafeBufferPointer<UInt8>
    var at = 0

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    mutating func skipWhitespace() {
        while at < bytes.count {
            switch bytes[at] {
            case 0x20, 0x09, 0x0A, 0x0D: at += 1
            default: return
            }
        }
    }

    /// Whitespace, then `byte` if it comes next.
    mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard at < bytes.count, bytes[at] == byte else { return false }
        at += 1
        return true
    }

    /// `{`, which every object here follows with at least one member.
    mutating func openObject() throws(Declined) {
        guard take(UInt8(ascii: "{")) else { throw Declined() }
    }

    /// A member's name and its `:`.
    mutating func memberName() throws(Declined) -> UnsafeBufferPointer<UInt8> {
        let name = try string()
        guard take(UInt8(ascii: ":")) else { throw Declined() }
        return name
    }

    /// `,` (true) or the object's `}` (false).
    mutating func moreMembers() throws(Declined) -> Bool {
        if take(UInt8(ascii: ",")) { return true }
        guard take(UInt8(ascii: "}")) else { throw Declined() }
        return false
    }

    /// `[`; false when `]` follows at once.
    @discardableResult
    mutating func openArray(allowingEmpty: Bool) throws(Declined) -> Bool {
        guard take(UInt8(ascii: "[")) else { throw Declined() }
        if take(UInt8(ascii: "]")) {
            guard allowingEmpty else { throw Declined() }
            return false
        }
        return true
    }

    /// `,` (true) or the array's `]` (false).
    mutating func moreItems() throws(Declined) -> Bool {
        if take(UInt8(ascii: ",")) { return true }
        guard take(UInt8(ascii: "]")) else { throw Declined() }
        return false
    }

    /// A string's bytes, in place: printable ASCII without escapes, or declined.
    mutating func string() throws(Declined) -> UnsafeBufferPointer<UInt8> {
        guard take(UInt8(ascii: "\"")) else { throw Declined() }
        let start = at
        while at < bytes.count {
            let byte = bytes[at]
            if byte == UInt8(ascii: "\"") {
                defer { at += 1 }
                return UnsafeBufferPointer(rebasing: bytes[start..<at])
            }
            guard byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\\") else { throw Declined() }
            at += 1
        }
        throw Declined()
    }

    /// `Token` (`^[A-Za-z0-9_.:-]{1,64}$`), or `consent_ref` with 128.
    mutating func token(longest: Int) throws(Declined) -> String {
        let text = try string()
        guard text.count >= 1, text.count <= longest else { throw Declined() }
        let (low, high) = OutcomeBatchReader.tokenCharacters
        for byte in text {
            let allowed = byte < 64 ? low & (1 << UInt64(byte)) != 0 : high & (1 << UInt64(byte &- 64)) != 0
            guard allowed else { throw Declined() }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `^[0-9a-f]{64}$`: pseudonyms and text digests.
    mutating func lowercaseHex64() throws(Declined) -> String {
        let text = try string()
        guard text.count == 64 else { throw Declined() }
        for byte in text {
            guard (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66) else { throw Declined() }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// `format: date-time`, by the parser the general way uses.
    mutating func dateTime() throws(Declined) -> Date {
        guard let date = RFC3339.parse(utf8: try string()) else { throw Declined() }
        return date
    }

    /// `type: integer` (a number equal to its rounding, as the general way checks) within bounds.
    mutating func integer(in range: ClosedRange<Double>) throws(Declined) -> Double {
        let value = try number(in: range)
        guard value.rounded() == value else { throw Declined() }
        return value
    }

    /// A JSON number (RFC 8259's grammar, at most `JSONValue.maximumNumberLength` characters)
    /// within `range`, as the correctly rounded double the general way's `Double(String)` gives.
    mutating func number(in range: ClosedRange<Double>) throws(Declined) -> Double {
        skipWhitespace()
        let start = at
        var negative = false
        if at < bytes.count, bytes[at] == UInt8(ascii: "-") {
            negative = true
            at += 1
        }
        guard at < bytes.count else { throw Declined() }
        // Up to 15 significant digits with a power of ten up to 22 make an exact double
        // divided or multiplied by an exact power of ten: one correctly rounded operation,
        // so the same double as strtod's. Anything longer goes to `Double(String)`.
        var mantissa: UInt64 = 0
        var digits = 0
        var scale = 0
        func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
        if bytes[at] == UInt8(ascii: "0") {
            at += 1
        } else if isDigit(bytes[at]) {
            while at < bytes.count, isDigit(bytes[at]) {
                if mantissa != 0 || bytes[at] != 0x30 { digits += 1 }
                mantissa = mantissa &* 10 &+ UInt64(bytes[at] &- 0x30)
                at += 1
            }
        } else {
            throw Declined()
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
            at += 1
            guard at < bytes.count, isDigit(bytes[at]) else { throw Declined() }
            while at < bytes.count, isDigit(bytes[at]) {
                if mantissa != 0 || bytes[at] != 0x30 { digits += 1 }
                mantissa = mantissa &* 10 &+ UInt64(bytes[at] &- 0x30)
                scale -= 1
                at += 1
            }
        }
        if at < bytes.count, bytes[at] == UInt8(ascii: "e") || bytes[at] == UInt8(ascii: "E") {
            at += 1
            var exponentNegative = false
            if at < bytes.count, bytes[at] == UInt8(ascii: "+") || bytes[at] == UInt8(ascii: "-") {
                exponentNegative = bytes[at] == UInt8(ascii: "-")
                at += 1
            }
            guard at < bytes.count, isDigit(bytes[at]) else { throw Declined() }
            var exponent = 0
            while at < bytes.count, isDigit(bytes[at]) {
                exponent = min(exponent * 10 + Int(bytes[at] &- 0x30), 100_000)
                at += 1
            }
            scale += exponentNegative ? -exponent : exponent
        }
        guard at - start <= JSONValue.maximumNumberLength else { throw Declined() }
        var value: Double
        if digits <= 15, (-22...22).contains(scale) {
            value = Double(mantissa)
            if scale < 0 { value /= Self.powersOfTen[-scale] } else if scale > 0 { value *= Self.powersOfTen[scale] }
            if negative { value = -value }
        } else {
            guard let parsed = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<at]), as: UTF8.self)),
                  parsed.isFinite
            else { throw Declined() }
            value = parsed
        }
        guard range.contains(value) else { throw Declined() }
        return value
    }

    /// 10⁰ … 10²², each exactly a double.
    static let powersOfTen: [Double] = (0...22).map { exponent in (0..<exponent).reduce(1.0) { value, _ in value * 10 } }
}

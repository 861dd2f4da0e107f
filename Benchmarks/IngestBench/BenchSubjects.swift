import Crypto
import Foundation

/// The subjects a run's outcomes come from. Their pseudonyms look like the agent's (64 hex
/// digits of a keyed hash, spread evenly over the key space), so that a store's subject index
/// takes them where it takes real ones: a pool of 64 fills 64 places in it, a pool of millions
/// a new place for nearly every outcome.
struct BenchSubjects: Sendable {
    let count: Int
    private let cached: [String]

    init(count: Int) {
        self.count = count
        cached = (0..<min(count, 4_096)).map(Self.pseudonym)
    }

    func pseudonym(_ subject: Int) -> String {
        subject < cached.count ? cached[subject] : Self.pseudonym(subject)
    }

    /// The subjects of a run's `batch`-th batch (counted over all kiosks), one per outcome:
    /// consecutive in the pool, so that a batch of 100 from a pool of 64 names all 64.
    func subjects(ofBatch batch: Int, size: Int) -> [Int] {
        (0..<size).map { (batch * size + $0) % count }
    }

    /// Each batch's subjects, and those it records a grant for: each subject its kiosk names
    /// for the first time, or, with `everyBatch`, each it names.
    func kioskBatches(first: Int, count batches: Int, size: Int, everyBatch: Bool) -> [(subjects: [Int], grants: [Int])] {
        var named = Set<Int>()
        return (first..<first + batches).map { batch in
            let subjects = subjects(ofBatch: batch, size: size)
            var seen = Set<Int>()
            let distinct = subjects.filter { seen.insert($0).inserted }
            return (subjects, everyBatch ? distinct : distinct.filter { named.insert($0).inserted })
        }
    }

    private static func pseudonym(_ subject: Int) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in SHA256.hash(data: Data("bench-subject-\(subject)".utf8)) {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

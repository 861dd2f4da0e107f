import Foundation
@testable import Calibration

/// A float from a fixture: the readable value and its exact IEEE-754 bit pattern.
struct FixtureNumber: Decodable, Sendable {
    /// Nil for infinities, which JSON cannot hold (the bits still can).
    let value: Double?
    let bits: String

    /// The double the reference produced, bit for bit.
    var exact: Double {
        guard let pattern = UInt64(bits, radix: 16) else { return .nan }
        return Double(bitPattern: pattern)
    }
}

/// A reference result: either a number or the exception the reference raised (its type name
/// and message).
enum FixtureOutcome<Value: Decodable & Sendable>: Decodable, Sendable {
    case value(Value)
    case error(name: String, message: String)

    private enum Keys: String, CodingKey { case error, message }

    init(from decoder: any Decoder) throws {
        if let keyed = try? decoder.container(keyedBy: Keys.self),
           let name = try? keyed.decode(String.self, forKey: .error) {
            self = .error(name: name, message: try keyed.decode(String.self, forKey: .message))
        } else {
            self = .value(try Value(from: decoder))
        }
    }
}

struct BobFixtures: Decodable, Sendable {
    struct TargetResult: Decodable, Sendable {
        let target: Double
        let result: FixtureOutcome<FixtureNumber>
    }
    struct FarFRRResult: Decodable, Sendable {
        let threshold: FixtureNumber
        let result: FixtureOutcome<[FixtureNumber]>
    }
    struct Case: Decodable, Sendable {
        let name: String
        let impostors: [Double]
        let genuine: [Double]
        let far_threshold: [TargetResult]
        let frr_threshold: [TargetResult]
        let farfrr_at_far_threshold: [FarFRRResult]
        let eer_threshold: FixtureOutcome<FixtureNumber>
        let eer: FixtureOutcome<FixtureNumber>
        let min_hter_threshold: FixtureOutcome<FixtureNumber>
        let roc: FixtureOutcome<[[FixtureNumber]]>
        let det: FixtureOutcome<[[FixtureNumber]]>

        var counts: BobRefusal.Counts { BobRefusal.Counts(impostors: impostors.count, genuine: genuine.count) }
    }
    struct Large: Decodable, Sendable {
        struct Generator: Decodable, Sendable { let count: Int; let multiplier: Int; let modulus: Int }
        struct Sample: Decodable, Sendable { let index: Int; let value: FixtureNumber }
        let generator: Generator
        let sorted_samples: [Sample]
        let far_threshold: [TargetResult]
    }
    let cases: [Case]
    let large: Large
}

struct SklearnFixtures: Decodable, Sendable {
    struct Row: Decodable, Sendable {
        let target: Double
        let threshold: FixtureNumber
        let fpr: FixtureNumber
        let fnr: FixtureNumber
    }
    struct Case: Decodable, Sendable { let name: String; let at_targets: [Row] }
    let cases: [Case]
}

struct ScipyFixtures: Decodable, Sendable {
    struct BetaRow: Decodable, Sendable { let k: Int; let n: Int; let a: Double; let b: Double; let q: Double?; let ppf: FixtureNumber; let exact: FixtureNumber? }
    struct BinomRow: Decodable, Sendable { let k: Int; let n: Int; let p: Double; let greater: FixtureNumber; let less: FixtureNumber; let exact_greater: FixtureNumber; let exact_less: FixtureNumber }
    struct KSRow: Decodable, Sendable {
        let first: [Double]
        let second: [Double]
        let statistic: FixtureNumber
        let pvalue: FixtureNumber
        let pvalue_asymp: FixtureNumber
        let kolmogorov_stephens: FixtureNumber
    }
    struct NeededRow: Decodable, Sendable { let target: Double; let alpha: Double; let n: Int }
    let beta_ppf: [BetaRow]
    let binomtest: [BinomRow]
    let ks_2samp: [KSRow]
    let impostors_needed: [NeededRow]
}

enum Fixtures {
    static let bob: BobFixtures = load("bob_measure")
    static let sklearn: SklearnFixtures = load("sklearn_roc")
    static let scipy: ScipyFixtures = load("scipy_stats")

    private static func load<T: Decodable>(_ name: String) -> T {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"),
              let data = try? Data(contentsOf: url) else {
            fatalError("fixture \(name).json is missing from the test bundle")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            fatalError("fixture \(name).json does not decode: \(error)")
        }
    }

    /// The deterministic heavy-tailed impostor scores of `bob_measure.json`'s large case,
    /// rebuilt from correctly rounded IEEE operations exactly as the generator does.
    static func heavyTailScores(count: Int, multiplier: Int, modulus: Int) -> [Double] {
        (0..<count).map { index in
            let u = Double((index * multiplier) % modulus) / Double(modulus) * 2.0 - 1.0
            return u * u * u * u * u
        }
    }
}

/// The refusal Calibration must give where bob.measure raised, read from bob's message: bob
/// refuses with fewer than two scores on the side a function needs ("the number of negative
/// scores must be at least 2"), and refuses EER and min-HTER when one side is empty.
enum BobRefusal {
    struct Counts { var impostors: Int; var genuine: Int }

    static func expected(_ message: String, _ counts: Counts) -> CalibrationError? {
        switch message {
        case "the number of negative scores must be at least 2":
            return .tooFewImpostors(count: counts.impostors, required: 2)
        case "the number of positive scores must be at least 2":
            return .tooFewGenuine(count: counts.genuine, required: 2)
        case "Cannot compute threshold when no positives or no negatives are provided":
            return counts.impostors == 0 ? .tooFewImpostors(count: 0, required: 1) : .tooFewGenuine(count: 0, required: 1)
        default:
            return nil
        }
    }
}

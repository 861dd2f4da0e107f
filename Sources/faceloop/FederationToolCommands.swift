import ArgumentParser
import Federation
import FeedbackWire
import Foundation
import StrictJSON

/// `faceloop privacy epsilon`: ε of the Poisson-subsampled Gaussian mechanism, offline.
struct Privacy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "privacy", abstract: "Privacy accounting, offline.",
                                                    subcommands: [Epsilon.self])

    struct Epsilon: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "ε at δ after T steps of the Poisson-subsampled Gaussian mechanism (RDP or PLD accountant).")
        @Option(name: .customLong("noise-multiplier"), help: "z: noise standard deviation over the clipping norm.") var noiseMultiplier: Double
        @Option(name: .customLong("sampling-rate"), help: "q: probability that a client takes part in a round.") var samplingRate: Double
        @Option(help: "T: number of rounds.") var steps: Int
        @Option(help: "δ.") var delta: Double
        @Option(help: "rdp or pld.") var accountant = "rdp"
        @Flag var json = false

        func validate() throws {
            guard noiseMultiplier > 0 else { throw ValidationError("--noise-multiplier must be positive") }
            guard samplingRate > 0, samplingRate <= 1 else { throw ValidationError("--sampling-rate must be within (0, 1]") }
            guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
            guard delta > 0, delta < 1 else { throw ValidationError("--delta must be within (0, 1)") }
            guard ["rdp", "pld"].contains(accountant) else { throw ValidationError("--accountant must be rdp or pld") }
        }

        func run() async throws {
            let ledger = [PrivacyLedgerEntry(samplingRate: samplingRate, noiseMultiplier: noiseMultiplier, rounds: steps)]
            var members: [(key: String, value: JSONValue)] = [
                ("accountant", .string(accountant)), ("noise_multiplier", .number(noiseMultiplier)),
                ("sampling_rate", .number(samplingRate)), ("steps", .number(Double(steps))), ("delta", .number(delta)),
            ]
            do {
                if accountant == "rdp" {
                    let result = try RDPAccountant().epsilon(for: ledger, delta: delta)
                    members += [("epsilon", .number(result.epsilon)), ("order", .number(result.order))]
                } else {
                    members.append(("epsilon", .number(try PLDAccountant().epsilon(for: ledger, delta: delta))))
                }
            } catch {
                throw ValidationError("cannot account: \(error)")
            }
            let value = JSONValue.object(members)
            if json { print(value.serializedString); return }
            print("ε = \(value["epsilon"]?.numberValue ?? .nan) at δ = \(delta) (\(accountant.uppercased()); z = \(noiseMultiplier), q = \(samplingRate), T = \(steps))")
        }
    }
}

/// `faceloop federation aggregate`: one aggregation strategy over an update file, offline, to
/// compare with other implementations on the same bytes.
struct FederationTools: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "federation", abstract: "Federated aggregation, offline.",
                                                    subcommands: [Aggregate.self])

    struct Aggregate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Aggregate client updates from FILE into RESULT.",
            discussion: """
            FILE is little-endian: int32 N, int32 D, N int64 example counts, then N×D float32 updates row by row. \
            RESULT is D float32 values. fedavg weights by example count; median and trimmed-mean are coordinate-wise; \
            krum and multi-krum assume F Byzantine clients and keep M (multi-krum averages the kept rows).
            """)
        @Argument var file: String
        @Option(help: "fedavg, median, trimmed-mean, krum or multi-krum.") var strategy: String
        @Option(help: "Assumed Byzantine clients F (krum, multi-krum).") var byzantine: Int?
        @Option(name: .customLong("trim-beta"), help: "Share trimmed from each end (trimmed-mean).") var trimBeta = 0.1
        @Option(help: "Rows kept (multi-krum).") var keep: Int?
        @Option(help: "Where to write the D float32 values.") var out: String

        func run() async throws {
            let matrix: UpdateMatrix
            do {
                matrix = try AggregationFile.decodeUpdates(Data(contentsOf: URL(fileURLWithPath: file)))
            } catch {
                throw ValidationError("cannot read \(file): \(error)")
            }
            let zero = [Float](repeating: 0, count: matrix.columnCount)
            let f = byzantine ?? 0
            let values: [Float]
            do {
                switch strategy {
                case "fedavg": values = weightedMean(of: matrix)
                case "median": values = coordinateMedian(of: matrix)
                case "trimmed-mean": values = try trimmedMean(of: matrix, beta: trimBeta, countingTrimmed: false).values
                case "krum":
                    var krum = Krum(assumedByzantine: f)
                    values = try krum.aggregate(round: 1, global: zero, updates: matrix).parameters
                case "multi-krum":
                    var multiKrum = MultiKrum(assumedByzantine: f, keep: keep ?? max(1, matrix.rowCount - f))
                    values = try multiKrum.aggregate(round: 1, global: zero, updates: matrix).parameters
                default:
                    throw ValidationError("--strategy must be fedavg, median, trimmed-mean, krum or multi-krum")
                }
            } catch let error as ValidationError {
                throw error
            } catch {
                throw ValidationError("cannot aggregate: \(error)")
            }
            try AggregationFile.encodeResult(values).write(to: URL(fileURLWithPath: out))
            FileHandle.standardError.write(Data("\(strategy): N = \(matrix.rowCount), D = \(matrix.columnCount) → \(out)\n".utf8))
        }
    }
}

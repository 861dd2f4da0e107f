import ArgumentParser
import FaceVerification
import Foundation

/// `faceloop-agent evaluate DIR`: descriptors of every image under DIR and, with identities,
/// EER and FNMR at FMR 1e-2 and 1e-3.
struct EvaluateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Run the pipeline over a folder of JPEGs, write descriptors and report error rates.",
        discussion: """
        Images are found recursively. With --identities-from-folders the identity of an image is \
        the name of the folder holding it (the LFW layout: DIR/Person_Name/Person_Name_0001.jpg); \
        with --identities FILE it comes from a CSV of file,identity (file relative to DIR).
        """
    )

    @OptionGroup var models: ModelOptions

    @Argument(help: "Folder of images.")
    var directory: String

    @Flag(help: "Use each image's folder name as its identity.")
    var identitiesFromFolders = false

    @Option(help: "CSV file with lines file,identity.")
    var identities: String?

    @Option(help: "Where to write the descriptors CSV (file,identity,d0…d127).")
    var out: String = "descriptors.csv"

    @Flag(help: "Print the error rates as JSON.")
    var json = false

    struct Report: Encodable {
        struct MetricRates: Encodable {
            var metric: ComparisonMetric
            var genuinePairs: Int
            var impostorPairs: Int
            var equalErrorRate: Double
            var equalErrorThreshold: Double
            var atFMR1e2: VerificationErrorRates.OperatingPoint
            var atFMR1e3: VerificationErrorRates.OperatingPoint
        }
        var images: Int
        var noFace: [String]
        var failed: [String]
        var rates: [MetricRates]
    }

    func validate() throws {
        guard !(identitiesFromFolders && identities != nil) else {
            throw ValidationError("Give --identities-from-folders or --identities FILE, not both.")
        }
    }

    func run() async throws {
        let pipeline = try models.loadPipeline()
        let root = URL(fileURLWithPath: directory, isDirectory: true).standardizedFileURL
        let files = try imageFiles(under: root)
        let labels = try identities.map(readIdentities) ?? [:]

        var csv = "file,identity," + (0..<FaceDescriptorNetwork.descriptorLength).map { "d\($0)" }.joined(separator: ",") + "\n"
        var labelled: [(identity: String, descriptor: [Float])] = []
        var noFace: [String] = [], failed: [String] = []
        for (index, relative) in files.enumerated() {
            let identity = identitiesFromFolders
                ? (relative.split(separator: "/").dropLast().last.map(String.init) ?? "")
                : labels[relative] ?? ""
            do {
                let analysis = try pipeline.analyze(jpeg: try readImageFile(root.appendingPathComponent(relative).path))
                guard let face = analysis.primaryFace else {
                    noFace.append(relative)
                    continue
                }
                csv += "\(relative),\(identity)," + face.descriptor.map { "\($0)" }.joined(separator: ",") + "\n"
                if !identity.isEmpty { labelled.append((identity, face.descriptor)) }
            } catch {
                failed.append("\(relative): \(error)")
            }
            if (index + 1) % 100 == 0 {
                FileHandle.standardError.write(Data("evaluate: \(index + 1)/\(files.count) images\n".utf8))
            }
        }
        try csv.write(toFile: out, atomically: true, encoding: .utf8)

        var report = Report(images: files.count, noFace: noFace, failed: failed, rates: [])
        if !labelled.isEmpty {
            let set = LabelledDescriptors(entries: labelled)
            for metric in ComparisonMetric.allCases {
                let scores = try set.pairScores(metric: metric)
                let rates = try VerificationErrorRates(genuine: scores.genuine, impostor: scores.impostor)
                let eer = rates.equalErrorRate
                // Distances were negated into similarities; report thresholds in the metric's own units.
                let sign = metric == .euclideanDistance ? -1.0 : 1.0
                func native(_ point: VerificationErrorRates.OperatingPoint) -> VerificationErrorRates.OperatingPoint {
                    var point = point
                    point.threshold *= sign
                    return point
                }
                report.rates.append(.init(
                    metric: metric, genuinePairs: scores.genuine.count, impostorPairs: scores.impostor.count,
                    equalErrorRate: (eer.falseMatchRate + eer.falseNonMatchRate) / 2, equalErrorThreshold: sign * eer.threshold,
                    atFMR1e2: native(rates.falseNonMatchRate(atFalseMatchRate: 1e-2)),
                    atFMR1e3: native(rates.falseNonMatchRate(atFalseMatchRate: 1e-3))
                ))
            }
        }
        if json {
            try printJSON(report)
        } else {
            print("images: \(report.images), no face found: \(noFace.count), failed: \(failed.count); descriptors in \(out)")
            failed.forEach { print("  failed \($0)") }
            for rates in report.rates {
                print("\(rates.metric.rawValue): \(rates.genuinePairs) genuine / \(rates.impostorPairs) impostor pairs")
                print(String(format: "  EER %.4f at threshold %.4f", rates.equalErrorRate, rates.equalErrorThreshold))
                print(String(format: "  FNMR %.4f at FMR %.5f (threshold %.4f)", rates.atFMR1e2.falseNonMatchRate, rates.atFMR1e2.falseMatchRate, rates.atFMR1e2.threshold))
                print(String(format: "  FNMR %.4f at FMR %.5f (threshold %.4f)", rates.atFMR1e3.falseNonMatchRate, rates.atFMR1e3.falseMatchRate, rates.atFMR1e3.threshold))
            }
        }
    }

    /// JPEG files under `root`, as sorted paths relative to it.
    private func imageFiles(under root: URL) throws -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: root.path) else {
            throw ValidationError("Cannot read folder \(root.path)")
        }
        var files: [String] = []
        while let path = enumerator.nextObject() as? String {
            let lower = path.lowercased()
            if lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") { files.append(path) }
        }
        guard !files.isEmpty else { throw ValidationError("No JPEG files under \(root.path)") }
        return files.sorted()
    }

    private func readIdentities(_ path: String) throws -> [String: String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("Cannot read \(path): \(error.localizedDescription)")
        }
        var labels: [String: String] = [:]
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: ",", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if fields.count == 2, fields[0] != "file" { labels[fields[0]] = fields[1] }
        }
        return labels
    }
}

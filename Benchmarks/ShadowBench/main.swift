// What shadow scoring costs a kiosk: one verification — the probe image through the whole
// pipeline (decode, detect, landmarks, chip, descriptor), then the deciding model's
// comparison with an enrolled template — with and without a shadow model. The shadow model
// reuses the two backbone descriptors: its adapter is applied to each (two 128×128
// products), and the cosine normalises and takes the dot product, exactly as `verify` does.
//
//     shadow-bench MODELS_DIR IMAGES_DIR [COUNT] [PASSES]
//     shadow-bench normalisation IMAGES_DIR [COUNT] [PASSES]   (see NormalisationMode.swift)
//
// COUNT images (default 40) found recursively under IMAGES_DIR, PASSES passes over them
// (default 2); the first verification is dropped (model loading, page faults). Then a tight
// loop times the two comparisons alone.

import FaceVerification
import FederationCore
import Foundation
import SeededRandom

func milliseconds(since start: UInt64) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// A dense released-like adapter: the identity plus seeded noise in every weight.
func adapter(seed: UInt64) throws -> EmbeddingAdapter {
    var generator = SeededGenerator(seed: seed)
    let weights = Adapter.identity().weights.map { $0 + Float.random(in: -0.05...0.05, using: &generator) }
    let bias = (0..<128).map { _ in Float.random(in: -0.01...0.01, using: &generator) }
    return try EmbeddingAdapter(weights: weights, bias: bias)
}

let arguments = CommandLine.arguments
if arguments.count > 1, arguments[1] == "normalisation" {
    do { exit(try runNormalisationBench(arguments)) } catch {
        print("shadow-bench: \(error)")
        exit(1)
    }
}
guard arguments.count >= 3 else {
    print("usage: shadow-bench MODELS_DIR IMAGES_DIR [COUNT] [PASSES]")
    exit(2)
}
let count = arguments.count > 3 ? Int(arguments[3]) ?? 40 : 40
let passes = arguments.count > 4 ? Int(arguments[4]) ?? 2 : 2

do {
    let pipeline = try FacePipeline(models: ModelDirectory(url: URL(fileURLWithPath: arguments[1], isDirectory: true)))
    let root = URL(fileURLWithPath: arguments[2], isDirectory: true)
    let paths = (FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? [])
        .filter { $0.lowercased().hasSuffix(".jpg") || $0.lowercased().hasSuffix(".jpeg") }
        .sorted().prefix(count)
    let images = try paths.map { [UInt8](try Data(contentsOf: root.appendingPathComponent($0))) }
    guard let first = images.first, let template = try pipeline.analyze(jpeg: first).primaryFace?.descriptor else {
        print("shadow-bench: no images with a face under \(root.path)")
        exit(1)
    }
    let deciding = FaceVerifier(metric: .cosineSimilarity, threshold: 0.9, adapter: try adapter(seed: 4), modelVersion: "adapter-4")
    let shadow = FaceVerifier(metric: .cosineSimilarity, adapter: try adapter(seed: 5), modelVersion: "adapter-5")

    var without: [Double] = []
    var extra: [Double] = []
    for _ in 0..<passes {
        for image in images {
            let start = DispatchTime.now().uptimeNanoseconds
            guard let probe = try pipeline.analyze(jpeg: image).primaryFace else { continue }
            _ = try deciding.verify(reference: template, probe: probe.descriptor, probeQuality: probe.quality)
            without.append(milliseconds(since: start))
            let shadowStart = DispatchTime.now().uptimeNanoseconds
            _ = try shadow.verify(reference: template, probe: probe.descriptor, probeQuality: nil)
            extra.append(milliseconds(since: shadowStart))
        }
    }
    without.removeFirst()
    extra.removeFirst()

    // The comparisons alone, many times over the same descriptors.
    let probe = try pipeline.analyze(jpeg: images[images.count / 2]).primaryFace?.descriptor ?? template
    let loops = 20_000
    var checksum = 0.0
    var start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<loops { checksum += try shadow.verify(reference: template, probe: probe, probeQuality: nil).score }
    let shadowLoop = milliseconds(since: start) * 1000 / Double(loops)
    let backbone = FaceVerifier(metric: .cosineSimilarity)
    start = DispatchTime.now().uptimeNanoseconds
    for _ in 0..<loops { checksum += try backbone.verify(reference: template, probe: probe, probeQuality: nil).score }
    let backboneLoop = milliseconds(since: start) * 1000 / Double(loops)

    let withoutMedian = median(without)
    let extraMedian = median(extra)
    print("# \(images.count) images × \(passes) passes, \(without.count) verifications timed, OpenBLAS core \(FacePipeline.blasCoreName)")
    print(String(format: "verification without shadow (pipeline + deciding comparison), median: %.3f ms", withoutMedian))
    print(String(format: "verification with shadow, median:                               %.3f ms", median(zip(without, extra).map { $0 + $1 })))
    print(String(format: "shadow comparison inside the runs, median:                      %.1f µs (%.3f %% of a verification)",
                 extraMedian * 1000, extraMedian / withoutMedian * 100))
    print(String(format: "shadow comparison in a tight loop, mean of %d:               %.1f µs", loops, shadowLoop))
    // The backbone applies the identity adapter: the same arithmetic as a released one.
    print(String(format: "backbone comparison (identity adapter) in a tight loop, mean:   %.1f µs", backboneLoop))
    print(String(format: "# checksum %.3f", checksum))
} catch {
    print("shadow-bench: \(error)")
    exit(1)
}

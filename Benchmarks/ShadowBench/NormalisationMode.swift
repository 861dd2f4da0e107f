// `shadow-bench normalisation IMAGES_DIR [COUNT] [PASSES] [--sse2]`: what `CaptureNormalization` costs a
// kiosk per 640×480 frame, each step alone and the whole policy. No models: the step runs
// between decode and detection and depends on neither. Each JPEG found under IMAGES_DIR (the
// first COUNT, default 40) is decoded and resampled (nearest neighbour) to 640×480, and every
// policy runs PASSES times (default 5) over every frame on the calling thread; the first pass
// is dropped (page faults, first allocations). `--sse2` keeps CCaptureKernels to its baseline
// (SSE2) bodies on a CPU with AVX2, to time what a kiosk without AVX2 gets. Besides wall time it
// reports the thread's CPU time per frame, which a machine shared with other work inflates much
// less (time the thread spends descheduled is not counted).

import CCaptureKernels
import FaceVerification
import FederationCore
import Foundation

func runNormalisationBench(_ arguments: [String]) throws -> Int32 {
    let baseline = arguments.contains("--sse2")
    let arguments = arguments.filter { $0 != "--sse2" }
    guard arguments.count >= 3 else {
        print("usage: shadow-bench normalisation IMAGES_DIR [COUNT] [PASSES] [--sse2]")
        return 2
    }
    ck_force_baseline(baseline ? 1 : 0)
    let count = arguments.count > 3 ? Int(arguments[3]) ?? 40 : 40
    let passes = max(2, arguments.count > 4 ? Int(arguments[4]) ?? 5 : 5)
    let root = URL(fileURLWithPath: arguments[2], isDirectory: true)
    let paths = (FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? [])
        .filter { $0.lowercased().hasSuffix(".jpg") || $0.lowercased().hasSuffix(".jpeg") }
        .sorted().prefix(count)
    let decoder = JPEGDecoder()
    let frames = try paths.map { resampled(try decoder.decode([UInt8](try Data(contentsOf: root.appendingPathComponent($0)))), width: 640, height: 480) }
    guard !frames.isEmpty else {
        print("shadow-bench: no JPEG images under \(root.path)")
        return 1
    }
    let full = NormalizationPolicy(whiteBalance: .init(strength: 1), exposure: .init(method: .gamma, targetMean: 0.45),
                                   clahe: .init(tilesX: 8, tilesY: 8, clipLimit: 2), unsharpMask: .init(radius: 3, percent: 200, threshold: 0))
    let policies: [(String, NormalizationPolicy)] = [
        ("white balance (strength 1)", NormalizationPolicy(whiteBalance: full.whiteBalance)),
        ("exposure (gamma to 0.45)", NormalizationPolicy(exposure: full.exposure)),
        ("white balance + exposure", NormalizationPolicy(whiteBalance: full.whiteBalance, exposure: full.exposure)),
        ("CLAHE (8×8 tiles, clip 2)", NormalizationPolicy(clahe: full.clahe)),
        ("unsharp mask (radius 3, 200 %)", NormalizationPolicy(unsharpMask: full.unsharpMask)),
        ("unsharp mask (radius 1, 150 %)", NormalizationPolicy(unsharpMask: .init(radius: 1, percent: 150, threshold: 0))),
        ("whole policy (all four)", full),
    ]
    print("# \(frames.count) frames of 640×480 × \(passes) passes (first dropped), one thread, \(ck_uses_avx2() != 0 ? "AVX2" : "SSE2") kernels")
    print("| policy | median | p90 | max | CPU time, median |")
    print("|---|---|---|---|---|")
    var checksum = 0
    for (name, policy) in policies {
        let normalization = try CaptureNormalization(policy: policy)
        var times: [Double] = [], cpuTimes: [Double] = []
        for pass in 0..<passes {
            for frame in frames {
                let cpuStart = threadCPUNanoseconds()
                let start = DispatchTime.now().uptimeNanoseconds
                let output = normalization.apply(to: frame)
                let elapsed = milliseconds(since: start)
                let cpu = Double(threadCPUNanoseconds() - cpuStart) / 1e6
                checksum &+= output.pixels.reduce(0) { $0 &+ Int($1) }
                if pass > 0 {
                    times.append(elapsed)
                    cpuTimes.append(cpu)
                }
            }
        }
        times.sort()
        cpuTimes.sort()
        print(String(format: "| %@ | %.2f ms | %.2f ms | %.2f ms | %.2f ms |", name, median(times), times[Int(Double(times.count - 1) * 0.9)],
                     times.last ?? .nan, median(cpuTimes)))
    }
    print("# checksum \(checksum)")
    return 0
}

/// CPU time of the calling thread (not counting time it spent waiting for a core).
private func threadCPUNanoseconds() -> UInt64 {
    var time = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
    return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
}

/// Nearest-neighbour resampling to a fixed frame size (the content does not matter for timing,
/// only that it is a real photo's pixels).
func resampled(_ image: RGBImage, width: Int, height: Int) -> RGBImage {
    var pixels = [UInt8](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        let sourceY = y * image.height / height
        for x in 0..<width {
            let source = 3 * (sourceY * image.width + x * image.width / width)
            let target = 3 * (y * width + x)
            pixels[target] = image.pixels[source]
            pixels[target + 1] = image.pixels[source + 1]
            pixels[target + 2] = image.pixels[source + 2]
        }
    }
    return RGBImage(width: width, height: height, pixels: pixels)
}

import ArgumentParser
import FaceVerification
import Foundation

/// Options shared by the commands that run the face pipeline.
struct ModelOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "Directory holding the dlib model files (default: $FACELOOP_MODELS_DIR, else ./models). Fill it with scripts/fetch-models.sh.",
        valueName: "dir"))
    var modelsDir: String?

    @Option(help: "Refuse images with more pixels than this.")
    var maxPixels: Int = JPEGDecoder.defaultMaxPixels

    @Option(help: "Double the frame this many times before detection (finds faces below 80 px; each step costs ~4×).")
    var upsample: Int = 0

    @Flag(inversion: .prefixedNo, help: "Retry with one more doubling when no face is found.")
    var upsampleWhenNoFace = true

    func validate() throws {
        guard (0...3).contains(upsample) else { throw ValidationError("--upsample must be 0…3.") }
    }

    /// Loads the pipeline and reports the OpenBLAS kernel on standard error (with the
    /// OPENBLAS_CORETYPE to set when the kernel is slower than this CPU allows).
    func loadPipeline() throws -> FacePipeline {
        let models = modelsDir.map { ModelDirectory(url: URL(fileURLWithPath: $0, isDirectory: true)) }
            ?? ModelDirectory.fromEnvironment(fallback: URL(fileURLWithPath: "models", isDirectory: true))
        FileHandle.standardError.write(Data("faceloop-agent: \(BLASKernelAdvice.startupMessageForThisProcess)\n".utf8))
        var pipeline = try FacePipeline(models: models, decoder: JPEGDecoder(maxPixels: maxPixels))
        pipeline.upsample = upsample
        pipeline.upsamplesWhenNoFaceFound = upsampleWhenNoFace
        return pipeline
    }
}

/// Reads a whole file, with an error that names it.
func readImageFile(_ path: String) throws -> [UInt8] {
    do {
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    } catch {
        throw ValidationError("Cannot read \(path): \(error.localizedDescription)")
    }
}

/// Writes a value as pretty, key-sorted JSON to standard output.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

func formatMilliseconds(_ value: Double) -> String {
    String(format: "%.1f ms", value)
}

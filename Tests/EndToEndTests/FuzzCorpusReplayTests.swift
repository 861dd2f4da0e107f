import Foundation
import Testing

extension EndToEnd {
    /// The committed fuzz seed corpora (and any crash reproducer added to them) replayed through
    /// the fuzz targets in an ordinary build: none may crash.
    @Suite("Fuzz corpus replay")
    struct FuzzCorpusReplayTests {
        static let fuzzDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz")

        @Test("every seed input is handled without a crash", arguments: ["fuzz-upload", "fuzz-models", "fuzz-jpeg", "fuzz-scores"])
        func replay(target: String) throws {
            let corpus = Self.fuzzDirectory.appendingPathComponent(target).appendingPathComponent("corpus").path
            let result = try runTool(target, [corpus])
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stdout.contains("replayed"))
        }
    }
}

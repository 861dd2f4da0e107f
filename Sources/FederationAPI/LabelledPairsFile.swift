import Federation
import Foundation

/// Labelled descriptor pairs in a JSON file: what a kiosk trains on (its own pairs, never
/// uploaded) and what the server's evaluation gate scores candidates on (a held-out set).
///
/// ```json
/// {"pairs": [{"first": [128 numbers], "second": [128 numbers], "genuine": true}]}
/// ```
public enum LabelledPairsFile {
    struct Entry: Decodable {
        var first: [Float]
        var second: [Float]
        var genuine: Bool
    }

    struct Document: Decodable {
        var pairs: [Entry]
    }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public let description: String

        public init(description: String) {
            self.description = description
        }
    }

    public static func read(path: String, dimension: Int = Adapter.faceDescriptorDimension) throws(Invalid) -> [LabelledPair] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw Invalid(description: "cannot read \(path)")
        }
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch {
            throw Invalid(description: "\(path) is not a pairs file ({\"pairs\": [{\"first\", \"second\", \"genuine\"}]}): \(error)")
        }
        guard !document.pairs.isEmpty else { throw Invalid(description: "\(path) holds no pairs") }
        for (index, pair) in document.pairs.enumerated() {
            guard pair.first.count == dimension, pair.second.count == dimension else {
                throw Invalid(description: "pair \(index) in \(path) is not two \(dimension)-value descriptors")
            }
            guard pair.first.allSatisfy(\.isFinite), pair.second.allSatisfy(\.isFinite) else {
                throw Invalid(description: "pair \(index) in \(path) holds a value that is not finite")
            }
        }
        return document.pairs.map { LabelledPair(first: $0.first, second: $0.second, isGenuine: $0.genuine) }
    }
}

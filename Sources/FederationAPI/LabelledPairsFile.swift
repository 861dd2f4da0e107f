import Federation
import FederationCore
import FeedbackWire
import Foundation
import StrictJSON

/// Labelled descriptor pairs in a JSON file: what a kiosk trains on (its own pairs, never
/// uploaded) and what the server's evaluation gate scores candidates on (a held-out set).
///
/// ```json
/// {"pairs": [{"first": [128 numbers], "second": [128 numbers], "genuine": true,
///             "subjects": ["<pseudonym of the first face>", "<pseudonym of the second>"]}]}
/// ```
///
/// A kiosk trains only on pairs whose subjects it can show consent for, so its training pairs
/// name their subjects by pseudonym; the server's held-out set needs no names.
public enum LabelledPairsFile {
    struct Entry: Decodable {
        var first: [Float]
        var second: [Float]
        var genuine: Bool
        var subjects: [String]?
    }

    /// A pair with the pseudonyms of the people whose faces it holds (empty when not named).
    public struct AttributedPair: Sendable {
        public var pair: LabelledPair
        public var subjects: [String]

        public init(pair: LabelledPair, subjects: [String]) {
            self.pair = pair
            self.subjects = subjects
        }
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
        try readAttributed(path: path, dimension: dimension).map(\.pair)
    }

    public static func readAttributed(path: String, dimension: Int = Adapter.faceDescriptorDimension) throws(Invalid) -> [AttributedPair] {
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
        for (index, pair) in document.pairs.enumerated() {
            for subject in pair.subjects ?? [] where !subject.isLowercaseHex(count: 64) {
                throw Invalid(description: "pair \(index) in \(path) names a subject that is not a pseudonym (64 lowercase hex digits)")
            }
        }
        return document.pairs.map {
            AttributedPair(pair: LabelledPair(first: $0.first, second: $0.second, isGenuine: $0.genuine), subjects: $0.subjects ?? [])
        }
    }
}

import FeedbackWire
import StrictJSON

/// `outcomes.shadow_scores`: an outcome's shadow scores of candidate releases as one compact
/// JSON array, `[{"model_version":"…","score":0.71},…]`, in upload order, members in that
/// order and numbers as `JSONValue` writes them (the shortest text that reads back as the same
/// `Double`, so that a score counted in the live statistics at ingest is the one a rebuild
/// from the row counts). NULL when there are none: one TEXT column rather than a child table,
/// because the rows are only ever read whole, with their outcome, and both back ends copy it
/// as it is (`faceloop admin migrate-store`).
enum ShadowScoresColumn {
    /// The column's value: nil (NULL) for none.
    static func encode(_ scores: [MatchOutcome.ShadowScore]) -> String? {
        guard !scores.isEmpty else { return nil }
        return JSONValue.array(scores.map {
            .object([("model_version", .string($0.modelVersion)), ("score", .number($0.score))])
        }).serializedString
    }

    /// The scores a stored value holds; none for NULL.
    /// - Throws: `ShadowScoresColumn.Malformed` for a value this type did not write (a store
    ///   edited by hand), rather than reading it as no scores.
    static func decode(_ text: String?) throws -> [MatchOutcome.ShadowScore] {
        guard let text else { return [] }
        guard let items = (try? JSONValue.parse(text))?.arrayValue, !items.isEmpty else { throw Malformed(text: text) }
        return try items.map { item in
            guard let version = item["model_version"]?.stringValue, let score = item["score"]?.numberValue else {
                throw Malformed(text: text)
            }
            return MatchOutcome.ShadowScore(modelVersion: version, score: score)
        }
    }

    struct Malformed: Error, CustomStringConvertible {
        var text: String
        var description: String {
            "outcomes.shadow_scores holds \(text.prefix(120)), not a non-empty array of {model_version, score} (a store edited by hand?)"
        }
    }
}

import FeedbackWire
import StrictJSON

/// A list of strings in one text column (approvals, erasure locations), as JSON, the same in
/// both back ends.
enum StoredList {
    static func encode(_ list: [String]) -> String {
        JSONValue.array(list.map(JSONValue.string)).serializedString
    }

    static func decode(_ text: String) -> [String] {
        (try? JSONValue.parse(text))?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}

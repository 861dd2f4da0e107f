import Foundation
import StrictJSON

extension UUID {
    /// `uuidString.lowercased()`, the form every id is stored in, written straight from the
    /// bytes: the batch path spells each outcome's id, and `lowercased()` cost more than the
    /// formatting itself.
    var lowercaseText: String {
        let digits: StaticString = "0123456789abcdef"
        return withUnsafeBytes(of: uuid) { bytes in
            String(unsafeUninitializedCapacity: 36) { out in
                var position = 0
                digits.withUTF8Buffer { hex in
                    for (index, byte) in bytes.enumerated() {
                        if index == 4 || index == 6 || index == 8 || index == 10 {
                            out[position] = UInt8(ascii: "-")
                            position += 1
                        }
                        out[position] = hex[Int(byte >> 4)]
                        out[position + 1] = hex[Int(byte & 0x0F)]
                        position += 2
                    }
                }
                return position
            }
        }
    }
}

extension SQLArgument {
    /// The JSON array of a `.textList`, as `json_each` in SQLite unpacks it.
    static func jsonArray(_ values: [String]) -> String { JSONValue.serializedStringArray(values) }
}

import Foundation

/// UUIDs as the wire writes them: 8-4-4-4-12 hexadecimal digits, either case.
///
/// Foundation's `UUID(uuidString:)` on Linux parses with `sscanf`, which also lets through a
/// sign, spaces or a `0x` inside a group, and it was 2 % of the server's time at ingest, called
/// twice per outcome (the schema's format check, then decoding).
///
/// ```swift
/// UUIDText.parse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")   // a UUID
/// UUIDText.parse("6ba7b810-9dad-11d1-80b4-00c04fd430c")    // nil
/// ```
public enum UUIDText {
    public static func parse(_ text: String) -> UUID? {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    /// The same, on the text's UTF-8 bytes (a string of an upload, read in place).
    public static func parse(utf8 bytes: UnsafeBufferPointer<UInt8>) -> UUID? {
        guard bytes.count == 36 else { return nil }
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let parsed = withUnsafeMutableBytes(of: &uuid) { raw -> Bool in
            var position = 0
            for index in 0..<16 {
                if position == 8 || position == 13 || position == 18 || position == 23 {
                    guard bytes[position] == UInt8(ascii: "-") else { return false }
                    position += 1
                }
                guard let high = digit(bytes[position]), let low = digit(bytes[position + 1]) else { return false }
                raw[index] = high << 4 | low
                position += 2
            }
            return true
        }
        return parsed ? UUID(uuid: uuid) : nil
    }

    private static func digit(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

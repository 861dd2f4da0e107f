import Foundation

/// Standard padded base64 (RFC 4648 §4) that accepts only the one spelling the writer
/// produces. Foundation alone would also accept a final character whose unused low bits are
/// set, which would let a bundle be altered without changing what it decodes to; a tamper-evident
/// document must have a single byte form.
enum StrictBase64 {
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        Data(bytes).base64EncodedString()
    }

    static func decode(_ text: String) -> [UInt8]? {
        guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else { return nil }
        return [UInt8](data)
    }
}

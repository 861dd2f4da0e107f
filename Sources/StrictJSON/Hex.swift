extension Sequence<UInt8> {
    /// The bytes as lowercase hex, two digits each: how FaceLoop writes digests and
    /// fingerprints (SHA-256 of a token, a certificate, a consent text, a release envelope).
    public var lowercaseHex: String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}

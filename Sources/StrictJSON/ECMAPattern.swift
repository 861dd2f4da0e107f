/// JSON Schema patterns are ECMA-262 regular expressions; `NSRegularExpression` runs ICU's
/// dialect, which differs where it matters for identifiers: ICU's `$` also matches before a
/// final line terminator (so `"<64 hex>\n"` would pass `^[0-9a-f]{64}$`), and ICU's `\d` and
/// `\w` accept every Unicode digit and letter (fullwidth `１` passes `\d`). `icuPattern`
/// rewrites those constructs so ICU decides exactly as ECMA-262 without the `u` and `m` flags,
/// and refuses the classes whose ICU meaning it does not rewrite.
enum ECMAPattern {
    struct Unsupported: Error {
        var construct: String
    }

    static func icuPattern(_ source: String) throws(Unsupported) -> String {
        var out = ""
        var inClass = false
        var iterator = source.makeIterator()
        while let c = iterator.next() {
            switch c {
            case "\\":
                guard let escaped = iterator.next() else {
                    out.append(c)
                    break
                }
                switch escaped {
                case "d": out += inClass ? "0-9" : "[0-9]"
                case "w": out += inClass ? "A-Za-z0-9_" : "[A-Za-z0-9_]"
                case "D", "W", "s", "S", "b", "B": throw Unsupported(construct: "\\\(escaped)")
                default: out += "\\\(escaped)"
                }
            case "[" where !inClass:
                inClass = true
                out.append(c)
            case "]" where inClass:
                inClass = false
                out.append(c)
            case "$" where !inClass:
                out += "\\z"
            default:
                out.append(c)
            }
        }
        return out
    }
}

extension String {
    /// Whether the text is exactly `count` ASCII hex digits, lowercase: how pseudonyms, digests
    /// and fingerprints are written. `Character.isHexDigit` would also accept fullwidth digits.
    public func isLowercaseHex(count: Int) -> Bool {
        utf8.count == count && utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

/// The shape of nearly every pattern in FaceLoop's schemas — `^[0-9a-f]{64}$`,
/// `^[a-z0-9][a-z0-9-]{2,62}$` — matched without a regular-expression engine: an anchored
/// sequence of ASCII literals and bracket classes, each with an optional bounded or unbounded
/// repeat. `NSRegularExpression` cost several microseconds a match, several times an outcome;
/// this costs a pass over the bytes. Any other pattern (alternation, groups, `.`, escapes
/// other than `\d`, `\w` and escaped punctuation, non-ASCII) gets `nil` and goes to the engine.
///
/// The meaning is ECMA-262's without flags: a class or literal of ASCII characters never
/// matches a non-ASCII character, and `$` is the end of the input.
struct ASCIIPattern: Sendable {
    struct Atom: Sendable {
        /// Which of the 128 ASCII characters the atom accepts.
        var accepts: (UInt64, UInt64)
        var minimum: Int
        var maximum: Int  // Int.max for `*` and `+`

        func allows(_ byte: UInt8) -> Bool {
            byte < 64 ? accepts.0 & (1 << UInt64(byte)) != 0 : byte < 128 && accepts.1 & (1 << UInt64(byte - 64)) != 0
        }
    }

    let atoms: [Atom]
    /// Whether every atom but the last repeats a fixed number of times, as in all of FaceLoop's
    /// patterns: the input then has one way to be split among the atoms, and `matches` walks it
    /// once instead of tracking every position each atom could end at.
    let fixedUntilLast: Bool

    init?(_ source: String) {
        var bytes = Array(source.utf8)
        guard bytes.count >= 2, bytes.first == UInt8(ascii: "^"), bytes.last == UInt8(ascii: "$"), bytes.allSatisfy({ $0 < 128 }) else {
            return nil
        }
        bytes = Array(bytes.dropFirst().dropLast())
        var atoms: [Atom] = []
        var index = 0
        while index < bytes.count {
            var accepts: (UInt64, UInt64) = (0, 0)
            func accept(_ byte: UInt8) {
                if byte < 64 { accepts.0 |= 1 << UInt64(byte) } else { accepts.1 |= 1 << UInt64(byte - 64) }
            }
            func acceptEscape(_ byte: UInt8) -> Bool {
                switch byte {
                case UInt8(ascii: "d"): for c in UInt8(ascii: "0")...UInt8(ascii: "9") { accept(c) }
                case UInt8(ascii: "w"):
                    for range in [UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9")] {
                        for c in range { accept(c) }
                    }
                    accept(UInt8(ascii: "_"))
                default:
                    // Only escaped punctuation stands for itself; letters are classes or controls.
                    guard !(Self.isLetterOrDigit(byte)) else { return false }
                    accept(byte)
                }
                return true
            }
            switch bytes[index] {
            case UInt8(ascii: "["):
                index += 1
                guard index < bytes.count, bytes[index] != UInt8(ascii: "^"), bytes[index] != UInt8(ascii: "]") else { return nil }
                while index < bytes.count, bytes[index] != UInt8(ascii: "]") {
                    var low = bytes[index]
                    if low == UInt8(ascii: "\\") {
                        index += 1
                        guard index < bytes.count, acceptEscape(bytes[index]) else { return nil }
                        index += 1
                        continue
                    }
                    guard low != UInt8(ascii: "[") else { return nil }
                    index += 1
                    // `a-z` is a range; a `-` first or last is itself.
                    if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "-"), bytes[index + 1] != UInt8(ascii: "]") {
                        let high = bytes[index + 1]
                        guard high != UInt8(ascii: "\\"), high != UInt8(ascii: "["), low <= high else { return nil }
                        while true {
                            accept(low)
                            if low == high { break }
                            low += 1
                        }
                        index += 2
                    } else {
                        accept(low)
                    }
                }
                guard index < bytes.count else { return nil }
                index += 1
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count, acceptEscape(bytes[index]) else { return nil }
                index += 1
            case let byte where Self.isLetterOrDigit(byte) || "_-:@,;=!'\"<>~%&#/ ".utf8.contains(byte):
                accept(byte)
                index += 1
            default:
                return nil  // `.`, groups, alternation, anchors inside, a stray quantifier
            }
            var minimum = 1
            var maximum = 1
            if index < bytes.count {
                switch bytes[index] {
                case UInt8(ascii: "?"): (minimum, maximum) = (0, 1); index += 1
                case UInt8(ascii: "*"): (minimum, maximum) = (0, Int.max); index += 1
                case UInt8(ascii: "+"): (minimum, maximum) = (1, Int.max); index += 1
                case UInt8(ascii: "{"):
                    guard let close = bytes[index...].firstIndex(of: UInt8(ascii: "}")) else { return nil }
                    let parts = String(decoding: bytes[(index + 1)..<close], as: UTF8.self).split(separator: ",", omittingEmptySubsequences: false)
                    guard let low = parts.first.flatMap({ Int($0) }) else { return nil }
                    switch parts.count {
                    case 1: (minimum, maximum) = (low, low)
                    case 2: (minimum, maximum) = (low, parts[1].isEmpty ? Int.max : (Int(parts[1]) ?? -1))
                    default: return nil
                    }
                    guard maximum >= minimum else { return nil }
                    index = close + 1
                default: break
                }
                // A lazy or possessive suffix changes nothing for a whole-input match, but keep
                // the fast path to the plain forms.
                if index < bytes.count, [UInt8(ascii: "?"), UInt8(ascii: "+"), UInt8(ascii: "*"), UInt8(ascii: "{")].contains(bytes[index]) {
                    return nil
                }
            }
            atoms.append(Atom(accepts: accepts, minimum: minimum, maximum: maximum))
        }
        self.atoms = atoms
        fixedUntilLast = atoms.dropLast().allSatisfy { $0.minimum == $0.maximum }
    }

    static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    /// Whether the whole string matches.
    func matches(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { bytes in fixedUntilLast ? matchesInOneWalk(bytes) : matchesByPositions(bytes) }
    }

    private func matchesInOneWalk(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let last = atoms.last else { return bytes.isEmpty }
        var position = 0
        for atom in atoms.dropLast() {
            guard bytes.count - position >= atom.minimum else { return false }
            for _ in 0..<atom.minimum {
                guard atom.allows(bytes[position]) else { return false }
                position += 1
            }
        }
        let rest = bytes.count - position
        guard rest >= last.minimum, rest <= last.maximum else { return false }
        for index in position..<bytes.count where !last.allows(bytes[index]) { return false }
        return true
    }

    /// The positions each atom can end at, atom by atom.
    private func matchesByPositions(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var reachable = [Bool](repeating: false, count: bytes.count + 1)
        reachable[0] = true
        for atom in atoms {
            var next = [Bool](repeating: false, count: bytes.count + 1)
            var any = false
            for start in 0...bytes.count where reachable[start] {
                var position = start
                var repeats = 0
                while true {
                    if repeats >= atom.minimum { next[position] = true; any = true }
                    guard repeats < atom.maximum, position < bytes.count, atom.allows(bytes[position]) else { break }
                    position += 1
                    repeats += 1
                }
            }
            guard any else { return false }
            reachable = next
        }
        return reachable[bytes.count]
    }
}

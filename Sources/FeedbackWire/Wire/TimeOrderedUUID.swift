import Foundation

/// Version 7 UUIDs (RFC 9562, section 5.7): 48 bits of Unix time in milliseconds, then random
/// bits. The server keeps unique indexes on event ids and batch ids; random (version 4) keys
/// land each on a page of their own, so every stored outcome dirtied one more page of those
/// indexes. Ids that grow with time land together at the index's end.
public enum TimeOrderedUUID {
    /// A new id for `date`, its random bits from the system's generator.
    public static func make(at date: Date = Date()) -> UUID {
        var generator = SystemRandomNumberGenerator()
        return make(at: date, randomA: UInt16.random(in: 0...0x0FFF, using: &generator), randomB: generator.next())
    }

    /// The id laid out from its parts: `randomA` gives 12 bits, `randomB` its low 62.
    public static func make(at date: Date, randomA: UInt16, randomB: UInt64) -> UUID {
        // Times outside the 48 bits (before 1970, after the year 10889) take the nearest end.
        let since1970 = (date.timeIntervalSince1970 * 1000).rounded(.down)
        let milliseconds = since1970.isFinite ? UInt64(min(max(0, since1970), Double(0xFFFF_FFFF_FFFF))) : 0
        let high = milliseconds << 16 | 0x7000 | UInt64(randomA & 0x0FFF)
        let low = 0x8000_0000_0000_0000 | (randomB & 0x3FFF_FFFF_FFFF_FFFF)
        return UUID(uuid: (UInt8(truncatingIfNeeded: high >> 56), UInt8(truncatingIfNeeded: high >> 48),
                           UInt8(truncatingIfNeeded: high >> 40), UInt8(truncatingIfNeeded: high >> 32),
                           UInt8(truncatingIfNeeded: high >> 24), UInt8(truncatingIfNeeded: high >> 16),
                           UInt8(truncatingIfNeeded: high >> 8), UInt8(truncatingIfNeeded: high),
                           UInt8(truncatingIfNeeded: low >> 56), UInt8(truncatingIfNeeded: low >> 48),
                           UInt8(truncatingIfNeeded: low >> 40), UInt8(truncatingIfNeeded: low >> 32),
                           UInt8(truncatingIfNeeded: low >> 24), UInt8(truncatingIfNeeded: low >> 16),
                           UInt8(truncatingIfNeeded: low >> 8), UInt8(truncatingIfNeeded: low)))
    }
}

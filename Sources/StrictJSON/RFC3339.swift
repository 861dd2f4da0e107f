import Foundation

/// RFC 3339 timestamps (`2026-11-26T15:46:32.123Z`, `…+01:00`) without a formatter object,
/// so parsing is thread-safe and cheap on the ingest path.
public enum RFC3339 {
    public static let maximumFractionDigits = 9

    public static func parse(_ text: String) -> Date? {
        var text = text
        return text.withUTF8 { parse(utf8: $0) }
    }

    /// The same, on the text's UTF-8 bytes (a string of an upload, read in place).
    public static func parse(utf8 b: UnsafeBufferPointer<UInt8>) -> Date? {
        guard b.count >= 20 else { return nil }
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= b.count else { return nil }
            var v = 0
            for i in start..<(start + count) {
                let c = b[i]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            return v
        }
        guard let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
              let day = digits(8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
              let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2),
              b[16] == UInt8(ascii: ":"), let second = digits(17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year),
              hour < 24, minute < 60, second <= 60 else { return nil }
        var i = 19
        var fraction = 0.0
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            var scale = 0.1
            let start = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                fraction += Double(b[i] - 48) * scale
                scale /= 10
                i += 1
            }
            // Nanoseconds are the finest any clock gives; more digits could only carry other information.
            guard i > start, i - start <= maximumFractionDigits else { return nil }
        }
        guard i < b.count else { return nil }
        var offsetSeconds = 0
        if b[i] == UInt8(ascii: "Z") || b[i] == UInt8(ascii: "z") {
            i += 1
        } else if b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
            let sign = b[i] == UInt8(ascii: "+") ? 1 : -1
            guard let oh = digits(i + 1, 2), i + 3 < b.count, b[i + 3] == UInt8(ascii: ":"), let om = digits(i + 4, 2),
                  oh < 24, om < 60 else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            i += 6
        } else {
            return nil
        }
        guard i == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = Double(days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds) + fraction
        return Date(timeIntervalSince1970: seconds)
    }

    /// `2026-11-26T15:46:32.123Z`, always UTC, milliseconds.
    public static func format(_ date: Date) -> String {
        // To the microsecond first: a time read back from text or from a store is the nearest
        // double, which can lie a hair below the millisecond it names (1.001 s is 1.000999… s),
        // and cutting that to milliseconds wrote it a millisecond early.
        let totalMicros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let totalMillis = totalMicros >= 0 ? totalMicros / 1000 : (totalMicros - 999) / 1000
        let millis = Int(((totalMillis % 1000) + 1000) % 1000)
        let totalSeconds = (totalMillis - Int64(millis)) / 1000
        var days = Int(totalSeconds / 86_400)
        var secondsOfDay = Int(totalSeconds % 86_400)
        if secondsOfDay < 0 { secondsOfDay += 86_400; days -= 1 }
        let (y, m, d) = civilFromDays(days)
        // Written digit by digit into one buffer: every audit entry, receipt and consent record
        // carries times, and padding each field as its own string made seven strings a time.
        var text: [UInt8] = []
        text.reserveCapacity(26)
        func digits(_ value: Int, _ width: Int) {
            let written = String(value)
            for _ in written.utf8.count..<max(width, written.utf8.count) { text.append(UInt8(ascii: "0")) }
            text.append(contentsOf: written.utf8)
        }
        func twoDigits(_ value: Int) {
            text.append(UInt8(ascii: "0") + UInt8(value / 10))
            text.append(UInt8(ascii: "0") + UInt8(value % 10))
        }
        if (0...9999).contains(y) {
            twoDigits(y / 100)
            twoDigits(y % 100)
        } else {
            digits(y, 4)
        }
        text.append(UInt8(ascii: "-"))
        twoDigits(m)
        text.append(UInt8(ascii: "-"))
        twoDigits(d)
        text.append(UInt8(ascii: "T"))
        twoDigits(secondsOfDay / 3600)
        text.append(UInt8(ascii: ":"))
        twoDigits(secondsOfDay / 60 % 60)
        text.append(UInt8(ascii: ":"))
        twoDigits(secondsOfDay % 60)
        text.append(UInt8(ascii: "."))
        text.append(UInt8(ascii: "0") + UInt8(millis / 100))
        twoDigits(millis % 100)
        text.append(UInt8(ascii: "Z"))
        return String(decoding: text, as: UTF8.self)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    // Howard Hinnant's days-from-civil algorithm (proleptic Gregorian).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}

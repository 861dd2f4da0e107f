import Charts
import Foundation

/// How times and durations read on the pages, as fixed as the numbers in `Format`.
extension Format {
    /// A moment in UTC to the second: "2026-11-26 21:03:07 UTC".
    public static func time(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().dateSeparator(.dash)
            .time(includingFractionalSeconds: false).timeSeparator(.colon).dateTimeSeparator(.space)) + " UTC"
    }

    /// A p-value to four decimals; below that only "< 0.0001", which is all a reader acts on.
    public static func probability(_ value: Double) -> String {
        guard value.isFinite else { return "n/a" }
        return value < 0.0001 ? "< 0.0001" : decimal(value)
    }

    /// A difference of two rates with its sign: "+1.2 %", "-0.05 %", "0 %".
    public static func signedPercent(_ rate: Double) -> String {
        rate > 0 && rate.isFinite ? "+" + percent(rate) : percent(rate)
    }

    /// A duration given in milliseconds: "850 ms", "3.2 s", "4.0 h".
    public static func duration(milliseconds: Double) -> String {
        switch milliseconds {
        case ..<1000: return "\(Int(milliseconds.rounded())) ms"
        case ..<60_000: return String(format: "%.1f s", milliseconds / 1000)
        case ..<3_600_000: return String(format: "%.1f min", milliseconds / 60_000)
        case ..<172_800_000: return String(format: "%.1f h", milliseconds / 3_600_000)
        default: return String(format: "%.1f d", milliseconds / 86_400_000)
        }
    }
}

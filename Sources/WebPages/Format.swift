import Foundation

/// How numbers, rates and times read on the pages: fixed formats, independent of the
/// server's locale, so the pages (and the tests that compare them with the API) are stable.
public enum Format {
    /// A similarity score: up to six decimals, as kiosks report them.
    public static func score(_ value: Double) -> String {
        trimmed(String(format: "%.6f", value))
    }

    /// An axis tick: two decimals, always, so the ticks line up.
    public static func axis(_ value: Double) -> String {
        let text = String(format: "%.2f", value)
        return text == "-0.00" ? "0.00" : text
    }

    /// A plain decimal with up to four places: ε, δ multipliers, norms.
    public static func decimal(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "n/a" : (value > 0 ? "∞" : "-∞") }
        return trimmed(String(format: "%.4f", value))
    }

    /// A rate as a percentage with three significant digits: "0.0512 %", "12.3 %".
    public static func percent(_ rate: Double) -> String {
        guard rate.isFinite else { return "n/a" }
        let percent = rate * 100
        if percent == 0 { return "0 %" }
        let digits = max(0, 2 - Int(floor(log10(abs(percent)))))
        return trimmed(String(format: "%.\(min(digits, 6))f", percent)) + " %"
    }

    /// A moment in UTC to the second: "2026-11-26 21:03:07 UTC".
    public static func time(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().dateSeparator(.dash)
            .time(includingFractionalSeconds: false).timeSeparator(.colon).dateTimeSeparator(.space)) + " UTC"
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

    private static func trimmed(_ text: String) -> String {
        guard text.contains(".") else { return text }
        var result = Substring(text)
        while result.last == "0" { result = result.dropLast() }
        if result.last == "." { result = result.dropLast() }
        return result == "-0" ? "0" : String(result)
    }
}

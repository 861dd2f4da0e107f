import Foundation

/// How numbers and rates read on the charts and pages: fixed formats, independent of the
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

    private static func trimmed(_ text: String) -> String {
        guard text.contains(".") else { return text }
        var result = Substring(text)
        while result.last == "0" { result = result.dropLast() }
        if result.last == "." { result = result.dropLast() }
        return result == "-0" ? "0" : String(result)
    }
}

/// String building for inline SVG: coordinates with at most two decimals by integer
/// arithmetic (no locale, no platform float printing), and XML escaping of every text.
struct SVGWriter {
    private(set) var text = ""

    init(width: Double, height: Double, label: String) {
        text = "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 \(Self.number(width)) \(Self.number(height))\" "
        text += "width=\"\(Self.number(width))\" height=\"\(Self.number(height))\" font-family=\"sans-serif\" font-size=\"11\" "
        text += "aria-label=\"\(Self.escape(label))\">"
        text += "<title>\(Self.escape(label))</title>"
    }

    mutating func add(_ element: String) { text += element }

    func finished() -> String { text + "</svg>" }

    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        let hundredths = Int((value * 100).rounded())
        let sign = hundredths < 0 ? "-" : ""
        let magnitude = hundredths.magnitude
        let whole = magnitude / 100, fraction = magnitude % 100
        if fraction == 0 { return sign + "\(whole)" }
        let digits = fraction % 10 == 0 ? "\(fraction / 10)" : (fraction < 10 ? "0\(fraction)" : "\(fraction)")
        return sign + "\(whole).\(digits)"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}

/// String building for SVG, inline in a page or as a file of its own: coordinates with at
/// most two decimals by integer arithmetic (no locale, no platform float printing), so the
/// same values always give the same bytes, and XML escaping of every text that goes in.
struct SVGDocument {
    /// Where the SVG ends up.
    enum Placement {
        /// Inside an HTML page: no XML declaration, nothing between elements.
        case inline
        /// A file of its own: an XML declaration, and one element a line so that files diff well.
        case file
    }

    private var text = ""
    private let separator: String

    /// The root element and its `<title>`, which is also its accessible name.
    init(width: Double, height: Double, title: String, placement: Placement = .inline) {
        separator = placement == .file ? "\n" : ""
        if placement == .file { text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" }
        let width = Self.number(width), height = Self.number(height)
        add("<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\" "
            + "font-family=\"sans-serif\" font-size=\"11\" aria-label=\"\(Self.escape(title))\">")
        add("<title>\(Self.escape(title))</title>")
    }

    mutating func add(_ element: String) {
        text += element
        text += separator
    }

    func finished() -> String { text + "</svg>" + separator }

    /// `value` rounded to hundredths: "12.5", "-3.07", "0". A value that is not finite is
    /// written as 0 rather than trapping on the way to an integer.
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

    /// A polyline's `points`, with consecutive vertices that land on the same hundredth of a
    /// unit merged: a curve of 16,384 score-grid edges becomes a few hundred vertices.
    static func polylinePoints(_ vertices: some Sequence<(x: Double, y: Double)>) -> [String] {
        var points: [String] = []
        for vertex in vertices {
            let pair = "\(number(vertex.x)),\(number(vertex.y))"
            if points.last != pair { points.append(pair) }
        }
        return points
    }
}

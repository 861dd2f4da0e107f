/// How much of the differential-privacy budget ε the opened rounds have spent: a bar with
/// the spent share filled, red once the budget is exhausted.
public struct BudgetBar: Sendable {
    static let width = 480.0, height = 34.0

    public var spent: Double
    public var budget: Double

    public init(spent: Double, budget: Double) {
        self.spent = spent
        self.budget = budget
    }

    var share: Double { budget > 0 ? min(1, max(0, spent / budget)) : 1 }

    public func svg() -> String {
        let n = SVGDocument.number
        var out = SVGDocument(width: Self.width, height: Self.height,
                              title: "ε spent \(Format.decimal(spent)) of a budget of \(Format.decimal(budget))")
        let color = share >= 1 ? "#b91c1c" : (share >= 0.8 ? "#c2410c" : "#1f4e99")
        out.add("<rect x=\"0\" y=\"4\" width=\"\(n(Self.width))\" height=\"18\" fill=\"#eef0f4\" stroke=\"#555\"/>")
        out.add("<rect class=\"spent\" x=\"0\" y=\"4\" width=\"\(n(Self.width * share))\" height=\"18\" fill=\"\(color)\"/>")
        out.add("<text x=\"4\" y=\"33\">ε \(SVGDocument.escape(Format.decimal(spent))) of \(SVGDocument.escape(Format.decimal(budget))) (\(SVGDocument.escape(Format.percent(share))))</text>")
        return out.finished()
    }
}

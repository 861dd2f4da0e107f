/// bob.measure 6.1.1's error-rate functions, reproduced bit for bit on raw scores.
///
/// Direction: a higher score means more similar, and a comparison is accepted when
/// `score >= threshold`. So FMR(t) = #{impostor >= t} / N_I and FNMR(t) = #{genuine < t} / N_G.
/// Each function states its tie rule and edge cases; `docs/calibration.md` has the details
/// and the fixtures in the tests pin them against bob.measure itself.
///
/// ```swift
/// let impostors = try SortedScores(impostorScores)
/// let t = try ErrorRates.farThreshold(impostors: impostors, target: 1e-3)
/// let rates = try ErrorRates.farFRR(impostors: impostors, genuine: genuine, threshold: t)
/// ```
public enum ErrorRates {
    /// bob.measure's `epsilon`: targets at or above `1 - epsilon` mean "accept everything".
    static let oneMinusEpsilon = 1.0 - Double.ulpOfOne

    static func checkTarget(_ target: Double) throws {
        guard target >= 0, target <= 1 else { throw CalibrationError.targetOutOfRange(target) }
    }
}

import Calibration

extension CurveSet {
    /// The points as CSV, one row per (series, threshold): the ROC rates and their normal
    /// deviates (the DET coordinates, bob.measure `ppndf`). Doubles are written in their
    /// shortest round-trip form.
    ///
    /// ```
    /// model,cohort,threshold,fmr,fnmr,fmr_deviate,fnmr_deviate
    /// m1,lobby,0.1261756657547476,0.01,0.001,-2.326…,-3.090…
    /// ```
    public func csv() -> String {
        var text = "model,cohort,threshold,fmr,fnmr,fmr_deviate,fnmr_deviate\n"
        for series in series {
            let prefix = CSVField.escape(series.key.model ?? "") + "," + CSVField.escape(series.key.cohort ?? "") + ","
            for point in series.points {
                text += prefix + "\(point.threshold),\(point.falseMatchRate),\(point.falseNonMatchRate),"
                text += "\(ErrorRates.normalDeviate(point.falseMatchRate)),\(ErrorRates.normalDeviate(point.falseNonMatchRate))\n"
            }
        }
        return text
    }
}

/// RFC 4180 quoting for a field written to CSV.
enum CSVField {
    static func escape(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return field }
        return "\"" + field.split(separator: "\"", omittingEmptySubsequences: false).joined(separator: "\"\"") + "\""
    }
}

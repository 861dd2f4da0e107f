import FeedbackWire
import Storage
import StrictJSON

/// A kiosk names only the sites it is enrolled for: in its batches, and in the reads that
/// take a site (its jurisdiction's pseudonymisation key, its model assignment). Anything else
/// is refused with `site-mismatch`, whose detail gives the admin the command that rebinds it.
enum KioskSites {
    /// Refuses unless the kiosk is enrolled for every one of `sites`.
    static func require(_ sites: Set<String>, of device: DeviceRecord) throws {
        let foreign = sites.subtracting(device.sites)
        guard !foreign.isEmpty else { return }
        throw mismatch(device, foreign: foreign)
    }

    /// `errors` points at where a body names the first foreign site.
    static func mismatch(_ device: DeviceRecord, foreign: Set<String>, errors: [JSONSchemaViolation]? = nil) -> ProblemResponse {
        let id = device.deviceID
        let named = foreign.sorted().joined(separator: ", ")
        guard !device.sites.isEmpty else {
            return ProblemResponse(.siteMismatch, "\(id) is bound to no site (it was enrolled before kiosks were bound to their sites); "
                                   + "an administrator binds it with `faceloop devices move \(id) --site SITE` (it asked for \(named))",
                                   errors: errors)
        }
        return ProblemResponse(.siteMismatch, "\(id) is enrolled for \(device.sites.sorted().joined(separator: ", ")), not \(named); "
                               + "if it serves \(named) now, an administrator moves it with `faceloop devices move \(id) "
                               + foreign.sorted().map { "--site \($0)" }.joined(separator: " ") + "` (one --site for each site it serves)",
                               errors: errors)
    }
}

import Foundation

/// The record of processing activities (GDPR art. 30(1)), generated from the tables that
/// drive the system itself — purposes, retention and consent texts — so it cannot drift
/// from what the server actually does.
public struct ProcessingRecord: Sendable {
    public struct Jurisdiction: Sendable {
        public var name: String
        public var dataRegion: String
        public var biometricLaw: String?
        public var requestDays: Int

        public init(name: String, dataRegion: String, biometricLaw: String?, requestDays: Int) {
            self.name = name
            self.dataRegion = dataRegion
            self.biometricLaw = biometricLaw
            self.requestDays = requestDays
        }
    }

    public var jurisdictions: [Jurisdiction]
    public var retention: [RetentionRule]
    public var texts: [ConsentText]

    public init(jurisdictions: [Jurisdiction], retention: [RetentionRule], texts: [ConsentText]) {
        self.jurisdictions = jurisdictions
        self.retention = retention
        self.texts = texts
    }

    public static func description(of purpose: Purpose) -> (description: String, data: [String], location: String) {
        switch purpose {
        case .thresholdCalibration:
            ("Recalibrate the match threshold per model and cohort so that the false match rate stays at its target",
             ["similarity score", "kiosk decision", "adjudicated label", "capture quality", "cohort (site, camera model)",
              "subject pseudonym", "consent reference"], "server")
        case .modelImprovement:
            ("Train a small adapter of the face model on the kiosk; only a clipped, noised update leaves the kiosk",
             ["face descriptors and labelled pairs (on the kiosk only)", "subject pseudonym (on the kiosk only)"], "kiosk")
        case .qualityMonitoring:
            ("Watch capture quality across the fleet", ["capture quality", "cohort (site, camera model)"], "server")
        }
    }
}

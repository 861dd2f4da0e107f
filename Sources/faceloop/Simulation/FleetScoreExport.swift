import Foundation

/// A fleet's scores as a score file: what `faceloop scores evaluate` reads, and bob.measure or
/// any other tool can take them from. One row per score under the model that produced it,
/// rows sorted so that the same scores always give the same bytes.
///
/// ```csv
/// cohort,model,label,score,subject,after_drift
/// site-1/cam-a,dlib_face_recognition_resnet_model_v1,impostor,0.012345,3f0c…,false
/// ```
enum FleetScoreExport {
    static let header = "cohort,model,label,score,subject,after_drift"

    /// Scores are written as Swift's shortest round-trip decimal, so a reader gets the very doubles sent.
    static func csv(_ scores: [FleetSimulation.SentScore]) -> String {
        let rows = scores.map { sent in
            [sent.cohort.name, sent.modelVersion, sent.genuine ? "genuine" : "impostor", "\(sent.score)", sent.subject,
             sent.afterDrift ? "true" : "false"].joined(separator: ",")
        }
        return ([header] + rows.sorted()).joined(separator: "\n") + "\n"
    }

    static func write(_ scores: [FleetSimulation.SentScore], to path: String) throws {
        do {
            try Data(csv(scores).utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw FleetScoreExportError.unwritable(path, "\(error)")
        }
    }
}

enum FleetScoreExportError: Error, CustomStringConvertible {
    case unwritable(String, String)

    var description: String {
        switch self {
        case let .unwritable(path, reason): "cannot write the scores to \(path): \(reason)"
        }
    }
}

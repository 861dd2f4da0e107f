import Federation
import FederationAPI
import FeedbackWire
import Foundation
import Testing

/// The gate's figures and the training settings on the wire, in the shape written since the
/// tail loss and in the shape of releases and rounds stored before it.
@Suite("Gate figures and training settings on the wire")
struct GateFiguresWireTests {
    @Test func heldOutEvaluationCarriesFNMRAndStillReadsTheLegacyShape() throws {
        let report = EvaluationReport(genuinePairs: 279, impostorPairs: 8370, targetFMR: 1e-3, threshold: 0.93, falseNonMatchRate: 0.24)
        let encoded = try WireJSON.encoder().encode(HeldOutEvaluation(report))
        let object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        #expect(Set(object.keys) == ["pair_count", "genuine_pairs", "impostor_pairs", "target_fmr", "threshold", "fnmr"])
        #expect(object["pair_count"] as? Int == 8649)
        let decoded = try WireJSON.decoder().decode(HeldOutEvaluation.self, from: encoded)
        #expect(decoded.falseNonMatchRate == 0.24 && decoded.meanLoss == nil)
        #expect(decoded.summary.hasPrefix("FNMR 0.24 at FMR 0.001"))

        let legacy = try WireJSON.decoder().decode(HeldOutEvaluation.self, from: Data(#"{"pair_count": 20, "mean_loss": 0.5, "accuracy": 0.75}"#.utf8))
        #expect(legacy.meanLoss == 0.5 && legacy.accuracy == 0.75 && legacy.falseNonMatchRate == nil)
        #expect(legacy.summary == "mean loss 0.5, accuracy 0.75 on 20 pairs")
    }

    @Test func trainingSettingsReadRoundsStoredBeforeTheTailLoss() throws {
        let stored = #"{"learning_rate": 0.5, "epochs": 3, "batch_size": 32, "loss_scale": 10, "loss_margin": 0.5}"#
        let settings = try WireJSON.decoder().decode(LocalTrainingSettings.self, from: Data(stored.utf8))
        #expect(settings.tailFraction == 0.005 && settings.lossScale == 10)
        let configuration = settings.configuration(seed: 7)
        #expect(configuration.loss == ImpostorTailLoss(scale: 10, tailFraction: 0.005) && configuration.seed == 7)
        #expect(LocalTrainingSettings(tailFraction: 0).problem == "tail_fraction must be within (0, 1]")
        #expect(LocalTrainingSettings().problem == nil)
    }
}

import FaceVerification
import Foundation
import FuzzDriver

// The .dat loaders read files an attacker could replace on a kiosk. The loaders read from a
// path, so each input is written to a private temporary file first.
let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("faceloop-fuzz-model-\(getpid()).dat")

FuzzDriver.run { input in
    guard let selector = input.first else { return }
    guard FileManager.default.createFile(atPath: scratch.path, contents: Data(input.dropFirst())) else { return }
    switch selector % 3 {
    case 0: _ = try? ShapePredictor(contentsOf: scratch)
    case 1: _ = try? FaceDetector(contentsOf: scratch)
    default: _ = try? FaceDescriptorNetwork(contentsOf: scratch)
    }
}

import Federation
import SeededRandom
import TestSupport

/// Seeded synthetic descriptors for adapter tests: identities are random directions; a
/// genuine pair is two noisy views of one identity, an impostor pair views of two.
func syntheticPairs(count: Int, dimension: Int, noise: Float, seed: UInt64) -> [LabelledPair] {
    var generator = SeededGenerator(seed: seed)
    var gaussian = SeededGaussianNoise(generator: SeededGenerator(seed: seed &+ 1))
    func randomVector() -> [Float] { (0..<dimension).map { _ in Float(gaussian.nextStandardNormal()) } }
    func view(of identity: [Float]) -> [Float] { identity.map { $0 + noise * Float(gaussian.nextStandardNormal()) } }
    return (0..<count).map { _ in
        let identity = randomVector()
        let isGenuine = Bool.random(using: &generator)
        let other = isGenuine ? identity : randomVector()
        return LabelledPair(first: view(of: identity), second: view(of: other), isGenuine: isGenuine)
    }
}

/// The loss for the synthetic pairs above, whose impostor cosines sit near 0 rather than
/// near dlib's 0.9: a softer scale and a margin halfway.
let syntheticLoss = CosinePairLoss(scale: 10, margin: 0.5)

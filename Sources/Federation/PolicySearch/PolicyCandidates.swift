import FederationCore

/// The capture-normalisation policies a cohort's policy search tries: a fixed first round,
/// a shrinking lattice around the round's leader, and a stable short name for each policy.
///
/// Everything here is a pure function of its arguments (no randomness, no clock), so the
/// server, a benchmark and a test that ask for the same round get the same candidates in the
/// same order, and a candidate release named after `identifier(_:)` is named the same way
/// everywhere.
///
/// ```swift
/// let round1 = PolicyCandidates.grid()                                   // 15 policies
/// let round2 = try PolicyCandidates.refine(around: round1[10], step: 1)  // unsharp r3 200 % ± …
/// PolicyCandidates.identifier(round1[0])                                  // "…" (12 hex digits)
/// ```
public enum PolicyCandidates {
    /// The first round of a policy search: 15 policies, the identity excluded (the release
    /// being searched from already scores every attempt under its own policy).
    ///
    /// Each step alone at a few strengths, and the combinations that helped the matching
    /// conditions in the central study of issue 14 (grey world + gamma for a colour cast and
    /// low light, CLAHE for low light, unsharp mask for blur):
    ///
    /// | # | policy |
    /// |---|---|
    /// | 1 | white balance 1.0 |
    /// | 2 | white balance 1.0 + exposure gamma to 0.45 |
    /// | 3 | exposure gamma to 0.5 |
    /// | 4 | exposure gain to 0.45 |
    /// | 5 | CLAHE 8×8 clip 2 |
    /// | 6 | CLAHE 4×4 clip 3 |
    /// | 7 | CLAHE 8×8 clip 4 |
    /// | 8 | white balance 1 + exposure gamma to 0.45 + CLAHE 8×8 clip 2 |
    /// | 9 | unsharp mask radius 1.5, 100 %, threshold 0 |
    /// | 10 | unsharp mask radius 2, 150 %, threshold 0 |
    /// | 11 | unsharp mask radius 3, 200 %, threshold 0 |
    /// | 12 | unsharp mask radius 4, 300 %, threshold 0 |
    /// | 13 | exposure gamma to 0.45 + unsharp mask radius 2, 100 % |
    /// | 14 | CLAHE 8×8 clip 2 + unsharp mask radius 2, 100 % |
    /// | 15 | white balance 0.5 |
    ///
    /// The list is part of the search's contract (docs/federation.md, "Policy search
    /// candidates"): changing it changes every search started afterwards.
    public static func grid() -> [NormalizationPolicy] {
        typealias Policy = NormalizationPolicy
        let gamma45 = Policy.Exposure(method: .gamma, targetMean: 0.45)
        let clahe8x8clip2 = Policy.CLAHE(tilesX: 8, tilesY: 8, clipLimit: 2)
        let unsharp2x100 = Policy.UnsharpMask(radius: 2, percent: 100, threshold: 0)
        return [
            Policy(whiteBalance: .init(strength: 1)),
            Policy(whiteBalance: .init(strength: 1), exposure: gamma45),
            Policy(exposure: .init(method: .gamma, targetMean: 0.5)),
            Policy(exposure: .init(method: .gain, targetMean: 0.45)),
            Policy(clahe: clahe8x8clip2),
            Policy(clahe: .init(tilesX: 4, tilesY: 4, clipLimit: 3)),
            Policy(clahe: .init(tilesX: 8, tilesY: 8, clipLimit: 4)),
            Policy(whiteBalance: .init(strength: 1), exposure: gamma45, clahe: clahe8x8clip2),
            Policy(unsharpMask: .init(radius: 1.5, percent: 100, threshold: 0)),
            Policy(unsharpMask: .init(radius: 2, percent: 150, threshold: 0)),
            Policy(unsharpMask: .init(radius: 3, percent: 200, threshold: 0)),
            Policy(unsharpMask: .init(radius: 4, percent: 300, threshold: 0)),
            Policy(exposure: gamma45, unsharpMask: unsharp2x100),
            Policy(clahe: clahe8x8clip2, unsharpMask: unsharp2x100),
            Policy(whiteBalance: .init(strength: 0.5)),
        ]
    }

    /// The neighbours of `centre` for refinement round `step` (1 for the first refinement).
    ///
    /// For each continuous parameter the centre has, in this order — `white_balance.strength`,
    /// `exposure.target_mean`, `clahe.clip_limit`, `unsharp_mask.radius`,
    /// `unsharp_mask.percent` — two neighbours that differ from the centre in that parameter
    /// only, first the larger value, then the smaller:
    /// - `strength` and `target_mean` (bounded fractions) move by ± 0.15 / 2^(step − 1);
    /// - `clip_limit`, `radius` and `percent` (scales) are multiplied and divided by
    ///   f = 1 + 0.5 / 2^(step − 1), so f = 1.5, 1.25, 1.125, … and the lattice halves its
    ///   reach each round, as successive halving narrows in on the leader;
    /// - each value is clamped to `NormalizationPolicy`'s range for it, `percent` is rounded to
    ///   an integer and the others to 9 decimals (0.45 + 0.15 is 0.6, not 0.6000000000000001).
    ///
    /// Last comes the centre with `mirror_average` switched (on where it is off, off where it is
    /// on): averaging the mirrored chip's descriptor is worth a few points of FNMR on top of most
    /// image steps (docs/benchmarks.md, "Capture-normalisation policies found by the fleet"), and
    /// whether it pays for its descriptor pass is for the fleet's scores to say.
    ///
    /// Neighbours equal to the centre (a parameter at its bound, a `percent` too small to
    /// move) or to an earlier neighbour are left out, so the result may have fewer than two
    /// per parameter; for the identity it is the mirror average alone. Integer parameters
    /// (CLAHE tiles, the unsharp threshold) and the exposure method are not refined: the first
    /// round's grid already chose them.
    ///
    /// - Throws: `PolicyCandidatesError.stepOutOfRange` for `step` < 1 and
    ///   `.invalidCentre` for a centre outside the policy's ranges.
    public static func refine(around centre: NormalizationPolicy, step: Int) throws(PolicyCandidatesError) -> [NormalizationPolicy] {
        guard step >= 1 else { throw .stepOutOfRange(step) }
        do {
            try centre.validate()
        } catch {
            throw .invalidCentre(error)
        }
        // 1 / 2^(step − 1) exactly, without overflow for any step (it underflows to 0 instead,
        // and then every neighbour equals the centre and the lattice is empty).
        let shrink = Double(sign: .plus, exponent: 1 - step, significand: 1)
        let shift = 0.15 * shrink
        let factor = 1 + 0.5 * shrink

        var neighbours: [NormalizationPolicy] = []
        func add(_ change: (inout NormalizationPolicy) -> Void) {
            var neighbour = centre
            change(&neighbour)
            if neighbour != centre, !neighbours.contains(neighbour) { neighbours.append(neighbour) }
        }

        typealias Policy = NormalizationPolicy
        if let strength = centre.whiteBalance?.strength {
            for value in [strength + shift, strength - shift] {
                add { $0.whiteBalance?.strength = tidy(value, in: Policy.WhiteBalance.strengthRange) }
            }
        }
        if let target = centre.exposure?.targetMean {
            for value in [target + shift, target - shift] {
                add { $0.exposure?.targetMean = tidy(value, in: Policy.Exposure.targetMeanRange) }
            }
        }
        if let clip = centre.clahe?.clipLimit {
            for value in [clip * factor, clip / factor] {
                add { $0.clahe?.clipLimit = tidy(value, in: Policy.CLAHE.clipLimitRange) }
            }
        }
        if let unsharp = centre.unsharpMask {
            for value in [unsharp.radius * factor, unsharp.radius / factor] {
                add { $0.unsharpMask?.radius = tidy(value, in: Policy.UnsharpMask.radiusRange) }
            }
            let range = Policy.UnsharpMask.percentRange
            for value in [Double(unsharp.percent) * factor, Double(unsharp.percent) / factor] {
                let rounded = min(max(value.rounded(), Double(range.lowerBound)), Double(range.upperBound))
                add { $0.unsharpMask?.percent = Int(rounded) }
            }
        }
        add { $0.mirrorAverage.toggle() }
        return neighbours
    }

    /// The evolution strategy's crossover: `leader` with each step it lacks (the mirror average
    /// included) taken from the other candidates, one candidate per partner (in the partners'
    /// order), each new and distinct. Steps run in their canonical order, so a leader that fixes
    /// exposure and a partner that sharpens give one policy that does both; partners with no
    /// step the leader lacks give nothing. Pure, like the rest: the same leader and partners give the same list.
    public static func combinations(of leader: NormalizationPolicy, with partners: [NormalizationPolicy]) -> [NormalizationPolicy] {
        var combined: [NormalizationPolicy] = []
        for partner in partners {
            var child = leader
            child.whiteBalance = leader.whiteBalance ?? partner.whiteBalance
            child.exposure = leader.exposure ?? partner.exposure
            child.clahe = leader.clahe ?? partner.clahe
            child.unsharpMask = leader.unsharpMask ?? partner.unsharpMask
            child.mirrorAverage = leader.mirrorAverage || partner.mirrorAverage
            if child != leader, child != partner, !combined.contains(child) { combined.append(child) }
        }
        return combined
    }

    /// A stable 12-hex-digit name for `policy`: the first 48 bits of FNV-1a-64 over
    /// `canonicalJSON(policy)`. Equal policies get equal names on every platform and in every
    /// release; with a few hundred candidates per cohort a collision is about a 10⁻¹⁰ chance.
    public static func identifier(_ policy: NormalizationPolicy) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in canonicalJSON(policy).utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let hex = String(hash >> 16, radix: 16)
        return String(repeating: "0", count: 12 - hex.count) + hex
    }

    /// `policy` as compact JSON with keys sorted at every level, integers without a fraction
    /// and other numbers in Swift's shortest round-trip form (`0.45`, `1.5`), and
    /// `"mirror_average":true` only when it is on:
    /// `{"clahe":{"clip_limit":2,"tiles_x":8,"tiles_y":8},"mirror_average":true}`. It decodes
    /// back to the same policy, and it is what `identifier(_:)` hashes, so it never depends on
    /// a JSON encoder's formatting choices.
    public static func canonicalJSON(_ policy: NormalizationPolicy) -> String {
        func object(_ fields: [(key: String, value: String)]) -> String {
            "{" + fields.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",") + "}"
        }
        // Written in sorted key order.
        var members: [(key: String, value: String)] = []
        if let clahe = policy.clahe {
            members.append(("clahe", object([("clip_limit", number(clahe.clipLimit)), ("tiles_x", String(clahe.tilesX)),
                                             ("tiles_y", String(clahe.tilesY))])))
        }
        if let exposure = policy.exposure {
            members.append(("exposure", object([("method", "\"\(exposure.method.rawValue)\""), ("target_mean", number(exposure.targetMean))])))
        }
        if policy.mirrorAverage {
            members.append(("mirror_average", "true"))
        }
        if let unsharp = policy.unsharpMask {
            members.append(("unsharp_mask", object([("percent", String(unsharp.percent)), ("radius", number(unsharp.radius)),
                                                    ("threshold", String(unsharp.threshold))])))
        }
        if let whiteBalance = policy.whiteBalance {
            members.append(("white_balance", object([("strength", number(whiteBalance.strength))])))
        }
        return object(members)
    }

    private static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return value.description
    }

    /// Clamped to `range` and rounded to 9 decimals, so that repeated ± steps do not leave
    /// binary noise in the JSON (the ranges run up to 100, far inside Double's exact range).
    private static func tidy(_ value: Double, in range: ClosedRange<Double>) -> Double {
        let clamped = min(max(value, range.lowerBound), range.upperBound)
        return (clamped * 1e9).rounded() / 1e9
    }
}

/// Why `PolicyCandidates.refine` produced nothing.
public enum PolicyCandidatesError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Refinement rounds count from 1.
    case stepOutOfRange(Int)
    /// The centre is not a policy `CaptureNormalization` can apply.
    case invalidCentre(NormalizationPolicyError)

    public var description: String {
        switch self {
        case .stepOutOfRange(let step):
            "Refinement step \(step) is out of range: rounds count from 1"
        case .invalidCentre(let error):
            "Cannot refine around this policy: \(error)"
        }
    }
}

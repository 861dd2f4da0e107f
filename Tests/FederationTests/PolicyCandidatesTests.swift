import Federation
import FederationCore
import Foundation
import Testing

@Suite("Policy search candidates: the first-round grid, the refinement lattice, stable names")
struct PolicyCandidatesTests {
    /// The grid in docs/federation.md, as canonical JSON, with FNV-1a-64 names computed
    /// independently (Python: json.dumps(sort_keys=True, separators=(",", ":")), then
    /// FNV-1a-64 over the UTF-8 bytes, the top 48 bits in hex).
    static let expectedGrid: [(json: String, id: String)] = [
        (#"{"white_balance":{"strength":1}}"#, "93cf2903c145"),
        (#"{"exposure":{"method":"gamma","target_mean":0.45},"white_balance":{"strength":1}}"#, "8d91c4bf8c8a"),
        (#"{"exposure":{"method":"gamma","target_mean":0.5}}"#, "b5e36a787862"),
        (#"{"exposure":{"method":"gain","target_mean":0.45}}"#, "bb41e4b0bdd3"),
        (#"{"clahe":{"clip_limit":2,"tiles_x":8,"tiles_y":8}}"#, "d02d4960f6eb"),
        (#"{"clahe":{"clip_limit":3,"tiles_x":4,"tiles_y":4}}"#, "4b0030727bf2"),
        (#"{"clahe":{"clip_limit":4,"tiles_x":8,"tiles_y":8}}"#, "d931fd038f55"),
        (#"{"clahe":{"clip_limit":2,"tiles_x":8,"tiles_y":8},"exposure":{"method":"gamma","target_mean":0.45},"white_balance":{"strength":1}}"#, "010be4550ab0"),
        (#"{"unsharp_mask":{"percent":100,"radius":1.5,"threshold":0}}"#, "451b8e35f53a"),
        (#"{"unsharp_mask":{"percent":150,"radius":2,"threshold":0}}"#, "933a2ed00c81"),
        (#"{"unsharp_mask":{"percent":200,"radius":3,"threshold":0}}"#, "d9676f9d6f5e"),
        (#"{"unsharp_mask":{"percent":300,"radius":4,"threshold":0}}"#, "d2189b91fa56"),
        (#"{"exposure":{"method":"gamma","target_mean":0.45},"unsharp_mask":{"percent":100,"radius":2,"threshold":0}}"#, "1585373c4910"),
        (#"{"clahe":{"clip_limit":2,"tiles_x":8,"tiles_y":8},"unsharp_mask":{"percent":100,"radius":2,"threshold":0}}"#, "81bb79612f10"),
        (#"{"white_balance":{"strength":0.5}}"#, "794d4ffa45ed"),
    ]

    @Test("the grid is the documented list of 15 distinct, valid, non-identity policies")
    func gridIsTheDocumentedList() throws {
        let grid = PolicyCandidates.grid()
        #expect(grid.count == 15)
        #expect(Set(grid).count == 15)
        #expect(grid == PolicyCandidates.grid(), "the grid is a constant")
        for (policy, expected) in zip(grid, Self.expectedGrid) {
            try policy.validate()
            #expect(!policy.isIdentity)
            #expect(PolicyCandidates.canonicalJSON(policy) == expected.json)
            // The canonical JSON is a policy in its own right: the strict decoder reads it back.
            let decoded = try JSONDecoder().decode(NormalizationPolicy.self, from: Data(expected.json.utf8))
            #expect(decoded == policy)
        }
    }

    @Test("identifiers: 12 lowercase hex digits, FNV-1a-64 of the canonical JSON, distinct over the grid")
    func identifiers() throws {
        let grid = PolicyCandidates.grid()
        let ids = grid.map(PolicyCandidates.identifier)
        #expect(ids == Self.expectedGrid.map(\.id))
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 12 && $0.allSatisfy { "0123456789abcdef".contains($0) } })
        // The order the JSON was written in does not matter: the name follows the policy.
        let shuffled = #"{"unsharp_mask":{"threshold":0,"radius":3,"percent":200}}"#
        let decoded = try JSONDecoder().decode(NormalizationPolicy.self, from: Data(shuffled.utf8))
        #expect(PolicyCandidates.identifier(decoded) == "d9676f9d6f5e")
        #expect(PolicyCandidates.canonicalJSON(.identity) == "{}")
    }

    @Test("mirror_average: canonical JSON in key order, only when on; decodes strictly; names differ from the same steps without it")
    func mirrorAverage() throws {
        let clahe = NormalizationPolicy(clahe: .init(tilesX: 4, tilesY: 4, clipLimit: 3), mirrorAverage: true)
        let json = PolicyCandidates.canonicalJSON(clahe)
        #expect(json == #"{"clahe":{"clip_limit":3,"tiles_x":4,"tiles_y":4},"mirror_average":true}"#)
        #expect(try JSONDecoder().decode(NormalizationPolicy.self, from: Data(json.utf8)) == clahe)
        let everything = NormalizationPolicy(whiteBalance: .init(strength: 1), exposure: .init(method: .gain, targetMean: 0.3),
                                             clahe: clahe.clahe, unsharpMask: .init(radius: 2, percent: 100), mirrorAverage: true)
        #expect(PolicyCandidates.canonicalJSON(everything).contains(#""exposure":{"method":"gain","target_mean":0.3},"mirror_average":true,"unsharp_mask""#))
        #expect(PolicyCandidates.identifier(clahe) != PolicyCandidates.identifier(NormalizationPolicy(clahe: clahe.clahe)))
        #expect(!NormalizationPolicy(mirrorAverage: true).isIdentity)
        #expect(!NormalizationPolicy(mirrorAverage: true).changesImage)
        #expect(NormalizationPolicy(mirrorAverage: true).stepNames == ["mirror_average"])
        let off = try JSONDecoder().decode(NormalizationPolicy.self, from: Data(#"{"mirror_average":false}"#.utf8))
        #expect(off == .identity && PolicyCandidates.canonicalJSON(off) == "{}")
        for bad in [#"{"mirror_average":null}"#, #"{"mirror_average":"yes"}"#, #"{"mirror_average":1}"#, #"{"mirror_average":{}}"#] {
            #expect(throws: NormalizationPolicyError.self, "\(bad)") { try JSONDecoder().decode(NormalizationPolicy.self, from: Data(bad.utf8)) }
            do {
                _ = try JSONDecoder().decode(NormalizationPolicy.self, from: Data(bad.utf8))
            } catch let error as NormalizationPolicyError {
                #expect(error.field == "mirror_average")
            }
        }
    }

    @Test("refine around unsharp r3 200 %, step 1: radius × / ÷ 1.5, percent × / ÷ 1.5 rounded")
    func refineUnsharpStepOne() throws {
        let centre = NormalizationPolicy(unsharpMask: .init(radius: 3, percent: 200, threshold: 0))
        let neighbours = try PolicyCandidates.refine(around: centre, step: 1)
        #expect(neighbours == [
            NormalizationPolicy(unsharpMask: .init(radius: 4.5, percent: 200, threshold: 0)),
            NormalizationPolicy(unsharpMask: .init(radius: 2, percent: 200, threshold: 0)),
            NormalizationPolicy(unsharpMask: .init(radius: 3, percent: 300, threshold: 0)),
            NormalizationPolicy(unsharpMask: .init(radius: 3, percent: 133, threshold: 0)),
            NormalizationPolicy(unsharpMask: .init(radius: 3, percent: 200, threshold: 0), mirrorAverage: true),
        ])
        // Step 2: f = 1.25.
        #expect(try PolicyCandidates.refine(around: centre, step: 2) == [
            NormalizationPolicy(unsharpMask: .init(radius: 3.75, percent: 200, threshold: 0)),
            NormalizationPolicy(unsharpMask: .init(radius: 2.4, percent: 200, threshold: 0)),
            NormalizationPolicy(unsharpMask: .init(radius: 3, percent: 250, threshold: 0)),
            NormalizationPolicy(unsharpMask: .init(radius: 3, percent: 160, threshold: 0)),
            NormalizationPolicy(unsharpMask: .init(radius: 3, percent: 200, threshold: 0), mirrorAverage: true),
        ])
    }

    @Test("refine moves strength and target mean additively by 0.15 / 2^(step − 1), clamped, without binary noise")
    func refineAdditive() throws {
        let centre = NormalizationPolicy(whiteBalance: .init(strength: 1), exposure: .init(method: .gamma, targetMean: 0.45))
        // strength 1 + 0.15 clamps to 1 (the centre) and is left out.
        #expect(try PolicyCandidates.refine(around: centre, step: 1) == [
            NormalizationPolicy(whiteBalance: .init(strength: 0.85), exposure: .init(method: .gamma, targetMean: 0.45)),
            NormalizationPolicy(whiteBalance: .init(strength: 1), exposure: .init(method: .gamma, targetMean: 0.6)),
            NormalizationPolicy(whiteBalance: .init(strength: 1), exposure: .init(method: .gamma, targetMean: 0.3)),
            NormalizationPolicy(whiteBalance: .init(strength: 1), exposure: .init(method: .gamma, targetMean: 0.45), mirrorAverage: true),
        ])
        let third = try PolicyCandidates.refine(around: centre, step: 3)
        #expect(third.map { $0.exposure?.targetMean } == [0.45, 0.4875, 0.4125, 0.45])
        #expect(third.first?.whiteBalance?.strength == 0.9625)
    }

    @Test("refine at the range bounds: clamped neighbours that equal the centre are left out")
    func refineAtBounds() throws {
        let top = NormalizationPolicy(clahe: .init(tilesX: 8, tilesY: 8, clipLimit: 100))
        #expect(try PolicyCandidates.refine(around: top, step: 1) == [
            NormalizationPolicy(clahe: .init(clipLimit: 66.666666667)),
            NormalizationPolicy(clahe: .init(clipLimit: 100), mirrorAverage: true),
        ])
        let bottom = NormalizationPolicy(clahe: .init(tilesX: 2, tilesY: 2, clipLimit: 1.2))
        #expect(try PolicyCandidates.refine(around: bottom, step: 1) == [
            NormalizationPolicy(clahe: .init(tilesX: 2, tilesY: 2, clipLimit: 1.8)),
            NormalizationPolicy(clahe: .init(tilesX: 2, tilesY: 2, clipLimit: 1)),
            NormalizationPolicy(clahe: .init(tilesX: 2, tilesY: 2, clipLimit: 1.2), mirrorAverage: true),
        ])
        // percent 1 and percent 0 cannot move by rounding; radius 20 only down.
        let stuck = NormalizationPolicy(unsharpMask: .init(radius: 20, percent: 1, threshold: 4))
        #expect(try PolicyCandidates.refine(around: stuck, step: 3) == [
            NormalizationPolicy(unsharpMask: .init(radius: 17.777777778, percent: 1, threshold: 4)),
            NormalizationPolicy(unsharpMask: .init(radius: 20, percent: 1, threshold: 4), mirrorAverage: true),
        ])
        let weakest = NormalizationPolicy(whiteBalance: .init(strength: 0))
        #expect(try PolicyCandidates.refine(around: weakest, step: 1) == [
            NormalizationPolicy(whiteBalance: .init(strength: 0.15)),
            NormalizationPolicy(whiteBalance: .init(strength: 0), mirrorAverage: true),
        ])
        #expect(try PolicyCandidates.refine(around: .identity, step: 1) == [NormalizationPolicy(mirrorAverage: true)])
        // A step so large that 2^(step − 1) overflows: every move is below the 9-decimal rounding,
        // and only the mirror average switches.
        var mirrored = PolicyCandidates.grid()[7]
        mirrored.mirrorAverage = true
        #expect(try PolicyCandidates.refine(around: PolicyCandidates.grid()[7], step: Int.max) == [mirrored])
        // Around a centre that averages mirrored descriptors, the last neighbour switches it off.
        #expect(try PolicyCandidates.refine(around: mirrored, step: 2).last == PolicyCandidates.grid()[7])
    }

    @Test("refine over the whole grid and steps 1…6: valid, distinct, never the centre, one parameter each, shrinking")
    func refineProperties() throws {
        for centre in PolicyCandidates.grid() {
            var previousReach = Double.infinity
            for step in 1...6 {
                let neighbours = try PolicyCandidates.refine(around: centre, step: step)
                #expect(try PolicyCandidates.refine(around: centre, step: step) == neighbours, "deterministic")
                #expect(Set(neighbours).count == neighbours.count)
                #expect(!neighbours.contains(centre))
                #expect(neighbours.count <= 2 * Self.continuousParameters(centre).count + 1)
                #expect(neighbours.filter { $0.mirrorAverage != centre.mirrorAverage }.count == 1, "one with the mirror average switched")
                var reach = 0.0
                for neighbour in neighbours {
                    try neighbour.validate()
                    let changes = zip(Self.continuousParameters(centre), Self.continuousParameters(neighbour))
                        .filter { $0.0 != $0.1 }
                    #expect(changes.count == (neighbour.mirrorAverage == centre.mirrorAverage ? 1 : 0), "one parameter per neighbour")
                    #expect(neighbour.clahe?.tilesX == centre.clahe?.tilesX && neighbour.exposure?.method == centre.exposure?.method)
                    for (from, to) in changes { reach = max(reach, abs(log(to / from))) }
                }
                #expect(reach < previousReach, "step \(step) reaches less far than step \(step - 1)")
                previousReach = reach
            }
        }
    }

    @Test("bad input: step below 1 or a centre outside the ranges is refused")
    func refineRefusesBadInput() {
        let centre = PolicyCandidates.grid()[0]
        #expect(throws: PolicyCandidatesError.stepOutOfRange(0)) { try PolicyCandidates.refine(around: centre, step: 0) }
        #expect(throws: PolicyCandidatesError.stepOutOfRange(-3)) { try PolicyCandidates.refine(around: centre, step: -3) }
        let invalid = NormalizationPolicy(clahe: .init(tilesX: 8, tilesY: 8, clipLimit: 0.5))
        do {
            _ = try PolicyCandidates.refine(around: invalid, step: 1)
            Issue.record("an invalid centre was refined")
        } catch {
            guard case .invalidCentre(let cause) = error else { Issue.record("wrong error \(error)"); return }
            #expect(cause.field == "clahe.clip_limit")
            #expect(error.description.contains("clahe.clip_limit"))
        }
    }

    @Test("combinations: the leader keeps its steps and gains each partner's missing ones; nothing new, nothing")
    func combinationsTakeMissingSteps() {
        let grid = PolicyCandidates.grid()
        let gain = grid[3], clahe = grid[4], sharpen = grid[9], whiteGamma = grid[1]
        let children = PolicyCandidates.combinations(of: gain, with: [clahe, sharpen, whiteGamma, gain, clahe])
        #expect(children == [
            NormalizationPolicy(exposure: gain.exposure, clahe: clahe.clahe),
            NormalizationPolicy(exposure: gain.exposure, unsharpMask: sharpen.unsharpMask),
            // The partner's exposure is not taken: the leader has its own; its white balance is.
            NormalizationPolicy(whiteBalance: whiteGamma.whiteBalance, exposure: gain.exposure),
        ])
        #expect(PolicyCandidates.combinations(of: gain, with: [gain]).isEmpty)
        // A partner whose steps are all in the leader already gives the leader itself: left out.
        let both = NormalizationPolicy(exposure: gain.exposure, clahe: clahe.clahe)
        #expect(PolicyCandidates.combinations(of: both, with: [clahe, gain]).isEmpty)
        // A child equal to its partner (the leader's steps are a subset of the partner's) is left out.
        #expect(PolicyCandidates.combinations(of: clahe, with: [both]).isEmpty)
        // The mirror average is a step like the others: taken when the leader lacks it, kept when it has it.
        let mirroredClahe = NormalizationPolicy(clahe: clahe.clahe, mirrorAverage: true)
        #expect(PolicyCandidates.combinations(of: gain, with: [mirroredClahe]) == [
            NormalizationPolicy(exposure: gain.exposure, clahe: clahe.clahe, mirrorAverage: true),
        ])
        #expect(PolicyCandidates.combinations(of: mirroredClahe, with: [gain]) == [
            NormalizationPolicy(exposure: gain.exposure, clahe: clahe.clahe, mirrorAverage: true),
        ])
    }

    /// The refined parameters in the documented order (absent ones skipped).
    static func continuousParameters(_ policy: NormalizationPolicy) -> [Double] {
        [policy.whiteBalance?.strength, policy.exposure?.targetMean, policy.clahe?.clipLimit,
         policy.unsharpMask?.radius, policy.unsharpMask.map { Double($0.percent) }].compactMap { $0 }
    }
}

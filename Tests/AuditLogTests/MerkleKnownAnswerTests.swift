import Testing
@testable import AuditLog

/// RFC 6962 / RFC 9162 known answers: the eight-leaf test vectors of the Certificate
/// Transparency reference implementations. The leaves, the empty-tree hash and the roots for
/// sizes 1 … 8 are published in google/certificate-transparency, cpp/merkletree/merkle_tree_test.cc
/// (kInputs, kSHA256EmptyTreeHash, kSHA256Roots); the same values with the inclusion and
/// consistency proofs below are published in transparency-dev/merkle, proof/verify_test.go
/// (inclusionProofs, with 1-based leaf numbers there, and consistencyProofs). Only the values
/// are taken from there.
@Suite("Merkle tree: published RFC 6962 test vectors")
struct MerkleKnownAnswerTests {
    static let leaves: [[UInt8]] = [
        [],
        [0x00],
        [0x10],
        [0x20, 0x21],
        [0x30, 0x31],
        [0x40, 0x41, 0x42, 0x43],
        [0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57],
        [0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f],
    ]

    static let emptyRoot = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// MTH(D[n]) for n = 1 … 8.
    static let roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]

    /// Published audit paths (0-based leaf index, tree size, path).
    static let inclusionProofs: [(index: Int, size: Int, path: [String])] = [
        (0, 1, []),
        (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
        (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    ]

    /// Published consistency proofs (old size, new size, proof).
    static let consistencyProofs: [(old: Int, new: Int, proof: [String])] = [
        (1, 1, []),
        (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
        (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
        (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
        (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    ]

    static func hashes(_ hex: [String]) -> [MerkleHash] { hex.compactMap(MerkleHash.init(hex:)) }

    let tree = MerkleTree(entries: Self.leaves)

    @Test("the empty tree's head is SHA-256 of the empty string")
    func emptyRoot() throws {
        #expect(MerkleTree.emptyRootHash.hex == Self.emptyRoot)
        #expect(MerkleTree(leafHashes: []).rootHash.hex == Self.emptyRoot)
        #expect(MerkleTree.rootHash(leafHashes: []).hex == Self.emptyRoot)
        #expect(try tree.rootHash(size: 0).hex == Self.emptyRoot)
    }

    @Test("roots of the first 1 … 8 leaves, by every way the module computes them", arguments: 1...8)
    func roots(size: Int) throws {
        let want = Self.roots[size - 1]
        let prefix = Array(Self.leaves.prefix(size))
        #expect(MerkleTree(entries: prefix).rootHash.hex == want)
        #expect(MerkleTree.rootHash(leafHashes: prefix.map { MerkleTree.leafHash($0) }).hex == want)
        #expect(try tree.rootHash(size: size).hex == want)
    }

    @Test("published inclusion proofs are produced and verify", arguments: 0..<5)
    func inclusion(vector: Int) throws {
        let (index, size, path) = Self.inclusionProofs[vector]
        let want = Self.hashes(path)
        #expect(want.count == path.count)
        #expect(try tree.inclusionProof(index: index, size: size) == want)
        #expect(try MerkleTree(entries: Array(Self.leaves.prefix(size))).inclusionProof(index: index) == want)
        let root = try #require(MerkleHash(hex: Self.roots[size - 1]))
        #expect(MerkleProof.verifyInclusion(leafHash: MerkleTree.leafHash(Self.leaves[index]), index: index,
                                            treeSize: size, proof: want, rootHash: root))
    }

    @Test("published consistency proofs are produced and verify", arguments: 0..<5)
    func consistency(vector: Int) throws {
        let (old, new, proof) = Self.consistencyProofs[vector]
        let want = Self.hashes(proof)
        #expect(want.count == proof.count)
        #expect(try tree.consistencyProof(from: old, to: new) == want)
        let oldRoot = try #require(MerkleHash(hex: Self.roots[old - 1]))
        let newRoot = try #require(MerkleHash(hex: Self.roots[new - 1]))
        #expect(MerkleProof.verifyConsistency(oldSize: old, oldRoot: oldRoot, newSize: new, newRoot: newRoot, proof: want))
    }

    @Test("an empty leaf and a node are hashed with different prefixes")
    func domainSeparation() {
        // Leaf 0 is the empty string: its leaf hash is SHA-256(0x00), the first path element above.
        #expect(MerkleTree.leafHash([UInt8]()).hex == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
        #expect(MerkleTree.leafHash([0x00]).hex == "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7")
    }
}

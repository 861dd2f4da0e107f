import SeededRandom
import Testing
@testable import AuditLog

/// Every proof the tree produces for sizes 1 … 70 verifies, and stops verifying when any proof
/// hash, the index or a size is changed. A changed size is checked against that size's own head,
/// as a verifier always takes size and head together from one signed checkpoint. Leaves are
/// random but seeded, so a failure reproduces.
@Suite("Merkle tree: proofs for every size up to 70")
struct MerklePropertyTests {
    static let maximumSize = 70

    static let leaves: [[UInt8]] = {
        var random = SeededGenerator(seed: 0x6A75_6469_7400_0001)
        // Twice as many leaves as sizes tested, so that every altered size has a real head.
        return (0..<2 * maximumSize + 2).map { _ in (0..<Int(random.next() % 40)).map { _ in UInt8(truncatingIfNeeded: random.next()) } }
    }()

    let tree = MerkleTree(entries: Self.leaves)

    func head(ofSize size: Int) -> MerkleHash { (try? tree.rootHash(size: size)) ?? MerkleTree.emptyRootHash }

    /// MTH straight from RFC 9162 §2.1.1, recursive and slow, as the reference.
    static func referenceRoot(_ leaves: ArraySlice<[UInt8]>) -> MerkleHash {
        if leaves.isEmpty { return MerkleTree.emptyRootHash }
        if leaves.count == 1, let only = leaves.first { return MerkleTree.leafHash(only) }
        let k = MerkleTree.largestPowerOfTwo(below: leaves.count)
        let start = leaves.startIndex
        return MerkleTree.nodeHash(referenceRoot(leaves[start..<start + k]), referenceRoot(leaves[(start + k)...]))
    }

    static func flipped(_ hash: MerkleHash, bit: Int) -> MerkleHash {
        var bytes = hash.bytes
        bytes[bit / 8 % 32] ^= 1 << UInt8(bit % 8)
        return MerkleHash(bytes: bytes) ?? hash
    }

    @Test("every way of computing a head agrees with the RFC's recursive definition")
    func roots() throws {
        for size in 0...Self.maximumSize {
            let want = Self.referenceRoot(Self.leaves.prefix(size))
            #expect(try tree.rootHash(size: size) == want, "size \(size)")
            #expect(MerkleTree(entries: Array(Self.leaves.prefix(size))).rootHash == want, "size \(size)")
            #expect(MerkleTree.rootHash(leafHashes: Self.leaves.prefix(size).map { MerkleTree.leafHash($0) }) == want, "size \(size)")
        }
    }

    @Test("inclusion proofs verify, and fail once the proof, the index or the size changes")
    func inclusion() throws {
        var random = SeededGenerator(seed: 42)
        for size in 1...Self.maximumSize {
            let root = try tree.rootHash(size: size)
            let ownTree = MerkleTree(entries: Array(Self.leaves.prefix(size)))
            for index in 0..<size {
                let leaf = MerkleTree.leafHash(Self.leaves[index])
                let proof = try tree.inclusionProof(index: index, size: size)
                #expect(try ownTree.inclusionProof(index: index) == proof)
                func verifies(_ proof: [MerkleHash], index: Int = index, size: Int = size) -> Bool {
                    MerkleProof.verifyInclusion(leafHash: leaf, index: index, treeSize: size, proof: proof, rootHash: root)
                }
                #expect(verifies(proof), "index \(index) of \(size)")

                for position in proof.indices {
                    var altered = proof
                    altered[position] = Self.flipped(proof[position], bit: Int(random.next() % 256))
                    #expect(!verifies(altered), "index \(index) of \(size): proof hash \(position) changed")
                }
                if !proof.isEmpty {
                    #expect(!verifies(Array(proof.dropLast())), "index \(index) of \(size): proof shortened")
                }
                #expect(!verifies(proof + [root]), "index \(index) of \(size): proof lengthened")
                #expect(!verifies([leaf] + proof), "index \(index) of \(size): proof prefixed")
                #expect(!MerkleProof.verifyInclusion(leafHash: Self.flipped(leaf, bit: 3), index: index, treeSize: size,
                                                     proof: proof, rootHash: root))

                let otherIndices = [index - 1, index + 1, index ^ 1, index ^ 2, size, -1, Int(random.next() % UInt64(size + 2))]
                for other in otherIndices where other != index {
                    #expect(!verifies(proof, index: other), "index \(index) of \(size) accepted as index \(other)")
                }
                for otherSize in [size - 1, size + 1, size * 2, size / 2, index] where otherSize != size {
                    #expect(!MerkleProof.verifyInclusion(leafHash: leaf, index: index, treeSize: otherSize, proof: proof,
                                                         rootHash: head(ofSize: otherSize)),
                            "index \(index) of \(size) accepted in size \(otherSize)")
                }
            }
        }
    }

    @Test("consistency proofs verify, and fail once the proof, a size or a head changes")
    func consistency() throws {
        var random = SeededGenerator(seed: 7)
        for newSize in 1...Self.maximumSize {
            let newRoot = try tree.rootHash(size: newSize)
            let ownTree = MerkleTree(entries: Array(Self.leaves.prefix(newSize)))
            for oldSize in 0...newSize {
                let oldRoot = try tree.rootHash(size: oldSize)
                let proof = try tree.consistencyProof(from: oldSize, to: newSize)
                #expect(try ownTree.consistencyProof(from: oldSize) == proof)
                func verifies(_ proof: [MerkleHash], old: Int = oldSize, new: Int = newSize,
                              oldRoot: MerkleHash = oldRoot, newRoot: MerkleHash = newRoot) -> Bool {
                    MerkleProof.verifyConsistency(oldSize: old, oldRoot: oldRoot, newSize: new, newRoot: newRoot, proof: proof)
                }
                #expect(verifies(proof), "\(oldSize) → \(newSize)")

                for position in proof.indices {
                    var altered = proof
                    altered[position] = Self.flipped(proof[position], bit: Int(random.next() % 256))
                    #expect(!verifies(altered), "\(oldSize) → \(newSize): proof hash \(position) changed")
                }
                if !proof.isEmpty {
                    #expect(!verifies(Array(proof.dropLast())), "\(oldSize) → \(newSize): proof shortened")
                    #expect(!verifies([]), "\(oldSize) → \(newSize): proof emptied")
                }
                #expect(!verifies(proof + [newRoot]), "\(oldSize) → \(newSize): proof lengthened")
                #expect(!verifies([oldRoot] + proof), "\(oldSize) → \(newSize): proof prefixed")
                #expect(!verifies(proof, oldRoot: Self.flipped(oldRoot, bit: 9)), "\(oldSize) → \(newSize): old head changed")
                // The empty tree is a prefix of every tree: a claim from size 0 holds for any new head.
                guard oldSize > 0 else { continue }
                #expect(!verifies(proof, newRoot: Self.flipped(newRoot, bit: 200)), "\(oldSize) → \(newSize): new head changed")
                if oldSize != newSize {
                    #expect(!verifies(proof, oldRoot: newRoot, newRoot: oldRoot), "\(oldSize) → \(newSize): heads swapped")
                }

                for otherOld in [oldSize - 1, oldSize + 1, oldSize ^ 2, oldSize * 2] where otherOld != oldSize && otherOld != 0 {
                    #expect(!verifies(proof, old: otherOld, oldRoot: head(ofSize: otherOld)), "\(oldSize) → \(newSize) accepted from \(otherOld)")
                }
                for otherNew in [newSize - 1, newSize + 1, newSize * 2, newSize / 2] where otherNew != newSize {
                    #expect(!verifies(proof, new: otherNew, newRoot: head(ofSize: otherNew)), "\(oldSize) → \(newSize) accepted to \(otherNew)")
                }
            }
        }
    }

    @Test("proofs are refused for leaves and sizes the tree does not have")
    func outOfRange() {
        let count = Self.leaves.count
        #expect(throws: MerkleTreeError.indexOutOfRange(index: 5, treeSize: 5)) { try tree.inclusionProof(index: 5, size: 5) }
        #expect(throws: MerkleTreeError.indexOutOfRange(index: -1, treeSize: count)) { try tree.inclusionProof(index: -1) }
        #expect(throws: MerkleTreeError.self) { try tree.inclusionProof(index: 0, size: count + 1) }
        #expect(throws: MerkleTreeError.self) { try tree.inclusionProof(index: 0, size: 0) }
        #expect(throws: MerkleTreeError.self) { try tree.consistencyProof(from: 6, to: 5) }
        #expect(throws: MerkleTreeError.self) { try tree.consistencyProof(from: 1, to: count + 1) }
        #expect(throws: MerkleTreeError.self) { try tree.rootHash(size: count + 1) }
        #expect(throws: MerkleTreeError.self) { try tree.rootHash(size: -1) }
    }

    @Test("a large tree's head is computed in one linear pass")
    func largeTree() throws {
        let count = 100_003
        let leafHashes = (0..<count).map { MerkleTree.leafHash(Array(String($0).utf8)) }
        let streamed = MerkleTree.rootHash(leafHashes: leafHashes)
        let tree = MerkleTree(leafHashes: leafHashes)
        #expect(tree.rootHash == streamed)
        // A proof near the right edge of an earlier size exercises hashes rebuilt off the stored levels.
        let size = count - 37
        let proof = try tree.inclusionProof(index: size - 1, size: size)
        #expect(MerkleProof.verifyInclusion(leafHash: leafHashes[size - 1], index: size - 1, treeSize: size,
                                            proof: proof, rootHash: MerkleTree.rootHash(leafHashes: leafHashes.prefix(size))))
    }
}

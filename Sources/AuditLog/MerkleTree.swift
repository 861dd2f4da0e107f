/// The audit log's Merkle tree (RFC 9162 §2.1) over a list of leaf hashes: its head, and
/// inclusion and consistency proofs for it or for any earlier size of it.
///
/// Every level is kept (about 2N hashes), built bottom-up in O(N): pairs are hashed and an odd
/// last node is carried up unchanged, which yields exactly the RFC's tree. Proofs then read
/// stored nodes instead of rehashing subtrees.
///
/// ```swift
/// let tree = MerkleTree(entries: entryBytes)
/// let proof = try tree.inclusionProof(index: 3)
/// MerkleProof.verifyInclusion(leafHash: MerkleTree.leafHash(entryBytes[3]), index: 3,
///                             treeSize: tree.size, proof: proof, rootHash: tree.rootHash)   // true
/// ```
public struct MerkleTree: Sendable {
    /// levels[0] are the leaf hashes; levels[h][j] is the head of leaves
    /// j·2^h ..< min((j+1)·2^h, size).
    private let levels: [[MerkleHash]]

    public init(leafHashes: [MerkleHash]) {
        var levels = [leafHashes]
        var current = leafHashes
        while current.count > 1 {
            var next: [MerkleHash] = []
            next.reserveCapacity((current.count + 1) / 2)
            var index = 0
            while index + 1 < current.count {
                next.append(Self.nodeHash(current[index], current[index + 1]))
                index += 2
            }
            if index < current.count { next.append(current[index]) }
            levels.append(next)
            current = next
        }
        self.levels = levels
    }

    /// The tree over these entries' exact bytes.
    public init(entries: [[UInt8]]) {
        self.init(leafHashes: entries.map { Self.leafHash($0) })
    }

    /// Number of leaves.
    public var size: Int { levels[0].count }

    public var leafHashes: [MerkleHash] { levels[0] }

    /// MTH of the whole tree.
    public var rootHash: MerkleHash { levels.last?.first ?? Self.emptyRootHash }

    /// MTH of the first `size` leaves: the head the log had when it held that many entries.
    public func rootHash(size: Int) throws(MerkleTreeError) -> MerkleHash {
        guard size >= 0, size <= self.size else { throw .sizeOutOfRange(size: size, treeSize: self.size) }
        return size == 0 ? Self.emptyRootHash : subtreeHash(0, size)
    }

    /// RFC 9162 §2.1.3.1 PATH(m, D[n]): the audit path of leaf `index` in the tree of the first
    /// `size` leaves (default: all), ordered from the leaf's sibling up to the root's child.
    public func inclusionProof(index: Int, size: Int? = nil) throws(MerkleTreeError) -> [MerkleHash] {
        let treeSize = size ?? self.size
        guard treeSize >= 1, treeSize <= self.size else { throw .sizeOutOfRange(size: treeSize, treeSize: self.size) }
        guard index >= 0, index < treeSize else { throw .indexOutOfRange(index: index, treeSize: treeSize) }
        return path(index, size: treeSize)
    }

    /// PATH for arguments already known to be in range (0 ≤ index < size ≤ self.size).
    func path(_ index: Int, size: Int) -> [MerkleHash] {
        var proof: [MerkleHash] = []
        appendPath(index, start: 0, end: size, into: &proof)
        return proof
    }

    /// RFC 9162 §2.1.4.1 PROOF(m, D[n]): what shows the tree of the first `oldSize` leaves is a
    /// prefix of the tree of the first `newSize` leaves (default: all). Empty when the sizes are
    /// equal or `oldSize` is 0, as there is nothing to prove.
    public func consistencyProof(from oldSize: Int, to newSize: Int? = nil) throws(MerkleTreeError) -> [MerkleHash] {
        let newSize = newSize ?? self.size
        guard newSize >= 0, newSize <= self.size else { throw .sizeOutOfRange(size: newSize, treeSize: self.size) }
        guard oldSize >= 0, oldSize <= newSize else { throw .sizeOutOfRange(size: oldSize, treeSize: newSize) }
        guard oldSize > 0, oldSize < newSize else { return [] }
        var proof: [MerkleHash] = []
        appendSubproof(oldSize, start: 0, end: newSize, isWholeOldTree: true, into: &proof)
        return proof
    }

    // PATH(m, D[start:end]): for n > 1 with k the largest power of two below n,
    // m < k → PATH(m, D[0:k]) : MTH(D[k:n]); otherwise PATH(m - k, D[k:n]) : MTH(D[0:k]).
    private func appendPath(_ m: Int, start: Int, end: Int, into proof: inout [MerkleHash]) {
        let n = end - start
        guard n > 1 else { return }
        let k = Self.largestPowerOfTwo(below: n)
        if m < k {
            appendPath(m, start: start, end: start + k, into: &proof)
            proof.append(subtreeHash(start + k, end))
        } else {
            appendPath(m - k, start: start + k, end: end, into: &proof)
            proof.append(subtreeHash(start, start + k))
        }
    }

    // SUBPROOF(m, D[start:end], b): when m = n the old tree is this subtree, which the verifier
    // already holds if b (it is the old head) and otherwise needs; else split at k as PATH does.
    private func appendSubproof(_ m: Int, start: Int, end: Int, isWholeOldTree: Bool, into proof: inout [MerkleHash]) {
        let n = end - start
        if m == n {
            if !isWholeOldTree { proof.append(subtreeHash(start, end)) }
            return
        }
        let k = Self.largestPowerOfTwo(below: n)
        if m <= k {
            appendSubproof(m, start: start, end: start + k, isWholeOldTree: isWholeOldTree, into: &proof)
            proof.append(subtreeHash(start + k, end))
        } else {
            appendSubproof(m - k, start: start + k, end: end, isWholeOldTree: false, into: &proof)
            proof.append(subtreeHash(start, start + k))
        }
    }

    /// MTH(D[start:end]) for a range the RFC recursion produces (start aligned to a power of two
    /// at least as wide). A stored node when the range is one; otherwise the range ends inside a
    /// node, i.e. at an earlier tree size, and is split as MTH defines it.
    private func subtreeHash(_ start: Int, _ end: Int) -> MerkleHash {
        let width = end - start
        var height = 0
        while 1 << height < width { height += 1 }
        let nodeEnd = min(start + (1 << height), size)
        if start % (1 << height) == 0, end == nodeEnd {
            return levels[height][start >> height]
        }
        let k = Self.largestPowerOfTwo(below: width)
        return Self.nodeHash(subtreeHash(start, start + k), subtreeHash(start + k, end))
    }

    /// The largest power of two strictly smaller than n (n ≥ 2).
    static func largestPowerOfTwo(below n: Int) -> Int {
        var k = 1
        while k << 1 < n { k <<= 1 }
        return k
    }
}

/// A proof was asked for a leaf or a tree size the tree does not have.
public enum MerkleTreeError: Error, Sendable, Equatable, CustomStringConvertible {
    case indexOutOfRange(index: Int, treeSize: Int)
    case sizeOutOfRange(size: Int, treeSize: Int)

    public var description: String {
        switch self {
        case let .indexOutOfRange(index, treeSize):
            return "entry \(index) is not in a log of \(treeSize) entries"
        case let .sizeOutOfRange(size, treeSize):
            return "a log of \(size) entries is not a prefix of a log of \(treeSize) entries"
        }
    }
}

import Crypto

// RFC 9162 §2.1.1: the one-byte prefixes keep a leaf from ever hashing like an interior node,
// so no entry can be passed off as a subtree (second-preimage resistance).
extension MerkleTree {
    /// MTH({}) = SHA-256 of the empty string: the head of a log with no entries.
    public static let emptyRootHash = MerkleHash(digest: SHA256.hash(data: [UInt8]()))

    /// SHA-256(0x00 ‖ entry).
    public static func leafHash(_ entry: some Collection<UInt8>) -> MerkleHash {
        var hasher = SHA256()
        hasher.update(data: [UInt8(0x00)])
        hasher.update(data: Array(entry))
        return MerkleHash(digest: hasher.finalize())
    }

    /// SHA-256(0x01 ‖ left ‖ right).
    public static func nodeHash(_ left: MerkleHash, _ right: MerkleHash) -> MerkleHash {
        var hasher = SHA256()
        hasher.update(data: [UInt8(0x01)])
        left.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        right.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        return MerkleHash(digest: hasher.finalize())
    }

    /// The tree head over these leaf hashes in one pass, keeping only O(log N) hashes: each
    /// leaf joins a stack of perfect subtrees, equal-sized neighbours merge, and the leftover
    /// subtrees fold right to left — the shape RFC 9162's "largest power of two smaller than n"
    /// split gives.
    public static func rootHash(leafHashes: some Sequence<MerkleHash>) -> MerkleHash {
        var stack: [(hash: MerkleHash, leaves: Int)] = []
        for leaf in leafHashes {
            var node = (hash: leaf, leaves: 1)
            while let top = stack.last, top.leaves == node.leaves {
                stack.removeLast()
                node = (nodeHash(top.hash, node.hash), top.leaves * 2)
            }
            stack.append(node)
        }
        guard var root = stack.popLast()?.hash else { return emptyRootHash }
        while let left = stack.popLast() { root = nodeHash(left.hash, root) }
        return root
    }
}

/// Checks of inclusion and consistency proofs exactly as RFC 9162 §2.1.3.2 and §2.1.4.2 give
/// them, for anyone holding only tree heads — a compliance officer's verifier, not the log.
public enum MerkleProof {
    /// The head that `proof` leads to from `leafHash` at `index` in a tree of `treeSize`
    /// leaves, or nil when the proof cannot belong to that position (too long or too short).
    public static func rootFromInclusionProof(leafHash: MerkleHash, index: Int, treeSize: Int,
                                              proof: [MerkleHash]) -> MerkleHash? {
        guard index >= 0, index < treeSize else { return nil }
        var fn = index
        var sn = treeSize - 1
        var r = leafHash
        for p in proof {
            guard sn != 0 else { return nil }
            if fn & 1 == 1 || fn == sn {
                r = MerkleTree.nodeHash(p, r)
                if fn & 1 == 0 {
                    // fn is a left edge with no right sibling here: climb to where it has one.
                    while fn & 1 == 0, fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                r = MerkleTree.nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 ? r : nil
    }

    /// Whether `proof` shows the leaf with `leafHash` sits at `index` under `rootHash`.
    public static func verifyInclusion(leafHash: MerkleHash, index: Int, treeSize: Int,
                                       proof: [MerkleHash], rootHash: MerkleHash) -> Bool {
        rootFromInclusionProof(leafHash: leafHash, index: index, treeSize: treeSize, proof: proof) == rootHash
    }

    /// Whether `proof` shows the tree of `oldSize` leaves with head `oldRoot` is a prefix of the
    /// tree of `newSize` leaves with head `newRoot`: nothing logged before was changed or removed.
    public static func verifyConsistency(oldSize: Int, oldRoot: MerkleHash, newSize: Int, newRoot: MerkleHash,
                                         proof: [MerkleHash]) -> Bool {
        guard oldSize >= 0, oldSize <= newSize else { return false }
        // Cases the RFC's loop does not cover: the empty tree is a prefix of every tree, and a
        // tree is consistent with itself only if the heads agree. Neither needs proof hashes.
        if oldSize == 0 { return proof.isEmpty && oldRoot == MerkleTree.emptyRootHash }
        if oldSize == newSize { return proof.isEmpty && oldRoot == newRoot }
        guard !proof.isEmpty else { return false }
        var path = proof
        if oldSize & (oldSize - 1) == 0 { path.insert(oldRoot, at: 0) }
        var fn = oldSize - 1
        var sn = newSize - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            guard sn != 0 else { return false }
            if fn & 1 == 1 || fn == sn {
                fr = MerkleTree.nodeHash(c, fr)
                sr = MerkleTree.nodeHash(c, sr)
                if fn & 1 == 0 {
                    while fn & 1 == 0, fn != 0 {
                        fn >>= 1
                        sn >>= 1
                    }
                }
            } else {
                sr = MerkleTree.nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == oldRoot && sr == newRoot && sn == 0
    }
}

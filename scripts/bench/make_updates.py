"""Write a seeded round of client updates in FaceLoop's aggregation file format.

Little-endian: int32 N, int32 D, then N int64 example counts, then N×D float32 updates
row by row. One client in ten is an outlier (a boosted update), so the robust aggregators
have something to reject.

    python3 scripts/bench/make_updates.py OUT N D [SEED]
"""

import sys

import numpy as np


def main():
    out, n, d = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 20261126
    rng = np.random.default_rng(seed)
    updates = rng.normal(0.0, 0.01, size=(n, d)).astype("<f4")
    outliers = max(1, n // 10)
    updates[:outliers] = rng.normal(0.5, 0.1, size=(outliers, d)).astype("<f4")
    counts = rng.integers(20, 500, size=n).astype("<i8")
    with open(out, "wb") as f:
        np.array([n, d], dtype="<i4").tofile(f)
        counts.tofile(f)
        updates.tofile(f)


if __name__ == "__main__":
    main()

"""Time Flower 1.42's aggregation functions on a FaceLoop update file.

    python3 scripts/bench/flower_bench.py FILE OUTDIR REPEATS

Prints one line per aggregator, `name seconds` (best of REPEATS; Krum and Multi-Krum run
once when N ≥ 500 because Flower's distance loop is quadratic in Python), and writes each
result as raw little-endian float32 to OUTDIR/NAME.f32 for the Swift side to compare with.
"""

import sys
import time
from pathlib import Path

import numpy as np
from flwr.server.strategy.aggregate import (
    aggregate,
    aggregate_krum,
    aggregate_median,
    aggregate_trimmed_avg,
)


def load(path):
    raw = Path(path).read_bytes()
    n, d = np.frombuffer(raw, dtype="<i4", count=2)
    counts = np.frombuffer(raw, dtype="<i8", count=n, offset=8)
    updates = np.frombuffer(raw, dtype="<f4", count=n * d, offset=8 + 8 * n).reshape(n, d)
    return int(n), int(d), [int(c) for c in counts], updates


def main():
    path, outdir, repeats = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    outdir.mkdir(parents=True, exist_ok=True)
    n, d, counts, updates = load(path)
    results = [([updates[i]], counts[i]) for i in range(n)]
    byzantine = n // 10
    keep = n - 2 * byzantine
    runs = {
        "fedavg": (lambda: aggregate(results), repeats),
        "median": (lambda: aggregate_median(results), repeats),
        "trimmed-mean": (lambda: aggregate_trimmed_avg(results, 0.1), repeats),
        "krum": (lambda: aggregate_krum(results, byzantine, 0), 1 if n >= 500 else repeats),
        "multi-krum": (lambda: aggregate_krum(results, byzantine, keep), 1 if n >= 500 else repeats),
    }
    for name, (run, count) in runs.items():
        best = float("inf")
        for _ in range(count):
            start = time.perf_counter()
            output = run()
            best = min(best, time.perf_counter() - start)
        np.asarray(output[0], dtype="<f4").tofile(outdir / f"{name}.f32")
        print(f"{name} {best:.6f}", flush=True)


if __name__ == "__main__":
    main()

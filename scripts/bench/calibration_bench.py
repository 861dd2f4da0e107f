"""Threshold computation on one score file: FaceLoop Calibration vs bob.measure vs scikit-learn.

Needs bob.measure 6.1.1, scikit-learn and numpy in the Python environment, and the Swift
benchmark built in release mode:

    swift build -c release --product calibration-bench
    python scripts/bench/calibration_bench.py --impostors 1000000 --genuine 100000 \
        --swift .build/release/calibration-bench

Each run writes seeded scores (impostors N(0, 0.1), genuine N(0.6, 0.12)) to a temporary
file, asks all three for the thresholds at FMR 1e-2, 1e-3, 1e-4 and the EER threshold, and
prints a Markdown table of the best of --repeat wall-clock times, plus whether the Swift
thresholds are bit-identical to bob.measure's.
"""

import argparse
import json
import os
import struct
import subprocess
import tempfile
import time

import numpy as np
import bob.measure as bm
from sklearn.metrics import roc_curve

TARGETS = [1e-2, 1e-3, 1e-4]


def best_of(repeats, fn):
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def bob_thresholds(imp, gen):
    thresholds = [bm.far_threshold(imp, gen, t) for t in TARGETS]
    return thresholds, bm.eer_threshold(imp, gen)


def sklearn_thresholds(imp, gen):
    labels = np.concatenate([np.zeros(len(imp)), np.ones(len(gen))])
    fpr, tpr, thresholds = roc_curve(labels, np.concatenate([imp, gen]))
    picked = [thresholds[np.nonzero(fpr <= t)[0][-1]] for t in TARGETS]
    eer_index = np.argmin(np.abs(fpr - (1 - tpr)))
    return picked, thresholds[eer_index]


def bits(x):
    return "%x" % struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--impostors", type=int, default=1_000_000)
    parser.add_argument("--genuine", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--swift", required=True, help="path of the release calibration-bench binary")
    args = parser.parse_args()

    rng = np.random.default_rng(20261126)
    imp = rng.normal(0.0, 0.1, args.impostors)
    gen = rng.normal(0.6, 0.12, args.genuine)

    # numba compiles on first use; compile on small data first so only the work is timed.
    bob_thresholds(imp[:1000], gen[:100])

    bob_seconds, (bob_t, bob_eer) = best_of(args.repeat, lambda: bob_thresholds(imp, gen))
    sk_seconds, (sk_t, _) = best_of(args.repeat, lambda: sklearn_thresholds(imp, gen))

    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "scores.f64")
        with open(path, "wb") as handle:
            handle.write(struct.pack("<QQ", len(imp), len(gen)))
            handle.write(imp.astype("<f8").tobytes())
            handle.write(gen.astype("<f8").tobytes())
        swift = json.loads(subprocess.run([args.swift, path, str(args.repeat)], check=True,
                                          capture_output=True, text=True).stdout)

    bob_bits = [bits(t) for t in bob_t]
    same_raw = swift["rawThresholdBits"] == bob_bits and swift["rawEERThresholdBits"] == bits(bob_eer)
    same_selective = (swift["selectiveThresholdBits"] == bob_bits
                      and swift["selectiveEERThresholdBits"] == bits(bob_eer))
    same_stats = swift["statisticsThresholdBits"] == [bits(t) for t in bob_t]
    print(f"{args.impostors:,} impostors + {args.genuine:,} genuine; FMR {', '.join(map(str, TARGETS))} + EER; "
          f"best of {args.repeat}\n")
    print("| implementation | seconds | vs bob.measure |")
    print("| --- | ---: | ---: |")
    rows = [
        ("bob.measure 6.1.1 (far_threshold ×3 + eer_threshold)", bob_seconds),
        ("scikit-learn roc_curve (one curve, pick 3 targets + EER)", sk_seconds),
        ("FaceLoop raw scores, full sort (bob-exact ×3 + EER)", swift["rawSeconds"]),
        ("FaceLoop raw scores, sorting only the answer's buckets (bob-exact ×3 + EER)", swift["selectiveSeconds"]),
        ("FaceLoop ScoreStatistics build (histograms + exact tail)", swift["statisticsBuildSeconds"]),
        ("FaceLoop thresholds from built statistics (×3 + grid EER)", swift["statisticsQuerySeconds"]),
    ]
    for name, seconds in rows:
        print(f"| {name} | {seconds:.4f} | {bob_seconds / seconds:.1f}× |")
    print(f"\nSwift raw thresholds bit-identical to bob.measure (3 targets + EER): full sort {same_raw}, "
          f"selective {same_selective}")
    print(f"Thresholds from statistics bit-identical to bob.measure: {same_stats} "
          f"(exact: {swift['statisticsExact']}, tail holds {swift['tailCount']:,} scores)")
    print(f"scikit-learn thresholds at the targets: {[float(t) for t in sk_t]}")


if __name__ == "__main__":
    main()

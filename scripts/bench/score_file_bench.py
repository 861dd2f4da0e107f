"""`faceloop scores evaluate` on a large score file against bob.measure on the same file.

Needs bob.measure 6.1.1, numpy and pandas in the Python environment, and faceloop built in
release mode:

    swift build -c release --product faceloop
    python scripts/bench/score_file_bench.py --impostors 10000000 --genuine 1000000 \
        --faceloop .build/release/faceloop

Writes seeded scores (impostors N(0, 0.1), genuine N(0.6, 0.12)) as `score,label` CSV, and the
same file gzipped, to a temporary directory. Times, best of --repeat wall-clock:

- faceloop on the CSV and on the .csv.gz, as a whole process: read, parse, evaluate, print JSON
  (thresholds at 3 targets with FMR, FNMR, Clopper–Pearson bounds and conservative thresholds,
  EER, EER threshold, min-HTER threshold);
- bob.measure (after one untimed call, so numba has compiled): pandas `read_csv` (C engine, round-trip floats), then `far_threshold` x3,
  `farfrr` x3, `eer_threshold`, `eer`, `min_hter_threshold`; and the bob calls alone.

Prints a Markdown table and whether faceloop's thresholds are bit-identical to bob's.
"""

import argparse
import gzip
import json
import os
import shutil
import subprocess
import tempfile
import time

import numpy as np
import pandas as pd
import bob.measure as bm

TARGETS = [1e-2, 1e-3, 1e-4]


def best_of(repeats, fn):
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def bob_compute(imp, gen):
    thresholds = [bm.far_threshold(imp, gen, t) for t in TARGETS]
    rates = [bm.farfrr(imp, gen, t) for t in thresholds]
    return thresholds, rates, bm.eer_threshold(imp, gen), bm.eer(imp, gen), bm.min_hter_threshold(imp, gen)


def bob_from_file(path):
    frame = pd.read_csv(path, engine="c", float_precision="round_trip")
    scores = frame["score"].to_numpy(dtype=np.float64)
    labels = frame["label"].to_numpy()
    return bob_compute(np.ascontiguousarray(scores[labels == "impostor"]), np.ascontiguousarray(scores[labels == "genuine"]))


def faceloop(binary, path):
    out = subprocess.run([binary, "scores", "evaluate", path, "--target-fmr", ",".join(map(repr, TARGETS)), "--json"],
                         check=True, capture_output=True)
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--impostors", type=int, default=10_000_000)
    parser.add_argument("--genuine", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--faceloop", required=True)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    imp = rng.normal(0.0, 0.1, args.impostors)
    gen = rng.normal(0.6, 0.12, args.genuine)
    directory = tempfile.mkdtemp(prefix="score-file-bench-")
    try:
        csv = os.path.join(directory, "scores.csv")
        frame = pd.DataFrame({"score": np.concatenate([imp, gen]),
                              "label": ["impostor"] * len(imp) + ["genuine"] * len(gen)})
        frame.to_csv(csv, index=False)  # floats as repr: shortest round-trip
        with open(csv, "rb") as source, gzip.open(csv + ".gz", "wb", compresslevel=6) as target:
            shutil.copyfileobj(source, target)
        del frame
        sizes = {p: os.path.getsize(p) / 1e6 for p in (csv, csv + ".gz")}

        bob_compute(imp[:1000].copy(), gen[:1000].copy())  # numba compiles on first call; not timed
        bob_only, reference = best_of(args.repeat, lambda: bob_compute(imp, gen))
        bob_file, from_file = best_of(args.repeat, lambda: bob_from_file(csv))
        swift_csv, report = best_of(args.repeat, lambda: faceloop(args.faceloop, csv))
        swift_gz, report_gz = best_of(args.repeat, lambda: faceloop(args.faceloop, csv + ".gz"))

        overall = report["groups"][0]
        same = [t["threshold"] == r for t, r in zip(overall["targets"], reference[0])]
        same.append(overall["eer_threshold"] == reference[2])
        same.append(overall["min_hter_threshold"] == reference[4])
        same.append(from_file[0] == reference[0])
        same.append(report_gz == report)

        n = args.impostors + args.genuine
        print(f"**{args.impostors:,} impostors + {args.genuine:,} genuine** — CSV {sizes[csv]:.0f} MB, "
              f".csv.gz {sizes[csv + '.gz']:.0f} MB (best of {args.repeat})\n")
        print("| what | seconds | vs bob.measure from the file |")
        print("| --- | ---: | ---: |")
        rows = [
            ("bob.measure 6.1.1: pandas read_csv + far_threshold x3, farfrr x3, eer_threshold, eer, min_hter_threshold", bob_file),
            ("bob.measure 6.1.1: the same calls on arrays already in memory", bob_only),
            ("`faceloop scores evaluate --json`, CSV (whole process)", swift_csv),
            ("`faceloop scores evaluate --json`, .csv.gz (whole process)", swift_gz),
        ]
        for name, seconds in rows:
            print(f"| {name} | {seconds:.3f} | {bob_file / seconds:.1f}x |")
        print(f"\nfaceloop parses {n / swift_csv / 1e6:.1f} M rows/s from CSV, {n / swift_gz / 1e6:.1f} M rows/s from gzip.")
        print("thresholds bit-identical to bob.measure (3 targets, EER, min HTER; CSV = gzip):", all(same))
    finally:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()

"""Prints the per-stage comparison of FaceLoop and dlib-bin timings (median ms per image)
and the largest descriptor difference between the two on the same images.

Usage: report.py FACELOOP_EMBED_JSON DLIB_STAGES_JSON
"""
import json
import statistics
import sys

STAGES = ["decode", "detect", "landmarks", "chip", "descriptor"]
FACELOOP_KEYS = {stage: stage + "Milliseconds" for stage in STAGES}


def medians(rows):
    return {stage: statistics.median(values) for stage, values in rows.items() if values}


def main(faceloop_path, dlib_path):
    faceloop = json.load(open(faceloop_path))
    dlib = json.load(open(dlib_path))["images"]
    ours = {stage: [] for stage in STAGES}
    theirs = {stage: [] for stage in STAGES}
    # Skip the first image of each run: it pays for model loading and cold caches.
    for report in faceloop[1:]:
        analysis = report.get("analysis") or {}
        face = analysis.get("primaryFace")
        for stage in STAGES:
            if stage in ("decode", "detect") or face:
                ours[stage].append(analysis["timings"][FACELOOP_KEYS[stage]])
    for entry in dlib[1:]:
        for stage, value in entry["ms"].items():
            theirs[stage].append(value)
    ours, theirs = medians(ours), medians(theirs)

    sizes = sorted({(e["width"], e["height"]) for e in dlib})
    print(f"images: {len(dlib)} runs, sizes {', '.join(f'{w}x{h}' for w, h in sizes)}")
    print(f"{'stage':<12}{'FaceLoop ms':>14}{'dlib-bin ms':>14}{'dlib/FaceLoop':>16}")
    for stage in STAGES:
        if stage in ours and stage in theirs:
            print(f"{stage:<12}{ours[stage]:>14.2f}{theirs[stage]:>14.2f}{theirs[stage] / ours[stage]:>15.1f}x")

    largest = 0.0
    compared = 0
    for report, entry in zip(faceloop, dlib):
        face = (report.get("analysis") or {}).get("primaryFace")
        if face and "descriptor" in entry:
            largest = max(largest, max(abs(a - b) for a, b in zip(face["descriptor"], entry["descriptor"])))
            compared += 1
    print(f"descriptors compared: {compared}, max |FaceLoop - dlib| = {largest:.2e}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

#!/usr/bin/env python3
"""The central ceiling of a capture-normalisation step, before the fleet searches for it.

No federation, no noise, no split: every LFW person's photos 1-3 are clean templates, photos
4-6 probes degraded as `policy-search-simulation`'s kiosk conditions degrade them; each probe
is fixed by a candidate step (numpy, Pillow, OpenCV), embedded by `faceloop-agent embed`, and
scored by cosine against every template. Printed: FNMR at FMR 1e-3 (threshold on all impostor
scores of that variant) per condition and step, and the relative change against no step with a
90 % interval over 1,000 resamples of the people. Views named `a & b` average the unit
descriptors of two variants of the same probe; `~mirror` is the probe flipped left to right,
so `x & x~mirror` is the mirror average (`"mirror_average": true`) of step x.

    python3 -m venv /tmp/ceiling && /tmp/ceiling/bin/pip install numpy pillow opencv-python-headless
    swift build -c release --product faceloop-agent
    OPENBLAS_CORETYPE=SkylakeX /tmp/ceiling/bin/python scripts/experiments/capture-ceiling.py \\
        --faces LFW_DIR/images --work /tmp/ceiling-work

Frames are written as JPEG quality 100 without chroma subsampling, so "none" is a little off the
simulation's figure (one more lossy round trip); compare steps with each other, not with it.
"""
import argparse
import itertools
import json
import os
import subprocess

import cv2
import numpy as np
from PIL import Image, ImageFilter


def clip(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def box5(img):
    """5x5 box mean with the window truncated at the edges and integer floor, as the simulation."""
    a = img.astype(np.int64)
    h, w, _ = a.shape
    c = np.pad(a, ((1, 0), (1, 0), (0, 0))).cumsum(0).cumsum(1)
    ones = np.pad(np.ones((h, w), np.int64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    y0, y1 = np.clip(np.arange(h) - 2, 0, h), np.clip(np.arange(h) + 3, 0, h)
    x0, x1 = np.clip(np.arange(w) - 2, 0, w), np.clip(np.arange(w) + 3, 0, w)
    Y0, X0 = np.meshgrid(y0, x0, indexing="ij")
    Y1, X1 = np.meshgrid(y1, x1, indexing="ij")
    s = c[Y1, X1] - c[Y0, X1] - c[Y1, X0] + c[Y0, X0]
    n = ones[Y1, X1] - ones[Y0, X1] - ones[Y1, X0] + ones[Y0, X0]
    return (s // n[..., None]).astype(np.uint8)


def down_up(img, f=3):
    h, w, _ = img.shape
    hh, ww = (h + f - 1) // f, (w + f - 1) // f
    small = np.zeros((hh, ww, 3))
    for y in range(hh):
        for x in range(ww):
            block = img[y * f:(y + 1) * f, x * f:(x + 1) * f].reshape(-1, 3).astype(np.int64)
            small[y, x] = (block.sum(0) + len(block) // 2) // len(block)
    fy = np.clip((np.arange(h) + 0.5) * hh / h - 0.5, 0, hh - 1)
    fx = np.clip((np.arange(w) + 0.5) * ww / w - 0.5, 0, ww - 1)
    y0, x0 = fy.astype(int), fx.astype(int)
    y1, x1 = np.minimum(hh - 1, y0 + 1), np.minimum(ww - 1, x0 + 1)
    wy, wx = (fy - y0)[:, None, None], (fx - x0)[None, :, None]
    top = small[y0][:, x0] * (1 - wx) + small[y0][:, x1] * wx
    bottom = small[y1][:, x0] * (1 - wx) + small[y1][:, x1] * wx
    return clip(top * (1 - wy) + bottom * wy)


CONDITIONS = {
    "over-exposure": lambda im: clip(im.astype(float) * 1.8 + 25),
    "blur": lambda im: box5(box5(box5(im))),
    "low-resolution": down_up,
}


def clahe(img, tiles=4, limit=3.6):
    ycc = cv2.cvtColor(img, cv2.COLOR_RGB2YCrCb)
    ycc[..., 0] = cv2.createCLAHE(clipLimit=limit, tileGridSize=(tiles, tiles)).apply(ycc[..., 0])
    return cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)


def unsharp(img, radius, percent):
    return np.asarray(Image.fromarray(img).filter(ImageFilter.UnsharpMask(radius=radius, percent=percent, threshold=0)))


def highlight_recovery(img):
    """Clipped channels re-estimated from unclipped ones by the frame's channel ratios, then scaled to fit."""
    x, clipped = img.astype(float), img >= 254
    usable = ~clipped.any(-1) & (x.mean(-1) > 90)
    kr, kb = (np.median(x[usable, 0] / np.maximum(x[usable, 1], 1)), np.median(x[usable, 2] / np.maximum(x[usable, 1], 1))) \
        if usable.sum() > 50 else (1.2, 0.85)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rc, gc, bc = clipped[..., 0], clipped[..., 1], clipped[..., 2]
    g = np.where(gc & ~bc, np.maximum(255, b / max(kb, 1e-3)), g)
    g = np.where(gc & bc & ~rc, np.maximum(255, r / max(kr, 1e-3)), g)
    y = np.stack([np.where(rc, np.maximum(255, g * kr), r), g, np.where(bc, np.maximum(255, g * kb), b)], -1)
    return clip(y / max(np.percentile(y, 99.5), 255) * 255)


def richardson_lucy(img, psf, iterations):
    x = img.astype(np.float32) / 255 + 1e-3
    psf = psf.astype(np.float32)
    flipped, estimate = psf[::-1, ::-1].copy(), x.copy()
    for _ in range(iterations):
        blurred = cv2.filter2D(estimate, -1, psf, borderType=cv2.BORDER_REFLECT)
        estimate = np.clip(estimate * cv2.filter2D(x / np.maximum(blurred, 1e-6), -1, flipped, borderType=cv2.BORDER_REFLECT), 0, 1.2)
    return clip(estimate * 255)


def box_psf():
    b = np.ones(5) / 5
    k = np.convolve(np.convolve(b, b), b)
    return np.outer(k, k)


STEPS = {
    "over-exposure": {
        "none": lambda im: im,
        "clahe4x4-3.6": clahe,
        "affine-inverse": lambda im: clip((im.astype(float) - 25) / 1.8),
        "highlight-recovery": highlight_recovery,
        "blue-as-grey": lambda im: np.repeat(im[..., 2:3], 3, -1),
    },
    "blur": {
        "none": lambda im: im,
        "unsharp2-250": lambda im: unsharp(im, 2, 250),
        "unsharp2-400": lambda im: unsharp(im, 2, 400),
        "richardson-lucy-30": lambda im: richardson_lucy(im, box_psf(), 30),
    },
    "low-resolution": {
        "none": lambda im: im,
        "unsharp2-100": lambda im: unsharp(im, 2, 100),
    },
}
MIRRORED = {"over-exposure": ["none", "clahe4x4-3.6"], "blur": ["none", "unsharp2-250"], "low-resolution": ["none", "unsharp2-100"]}


def embed(agent, models, files, out):
    if not os.path.exists(out):
        with open(out + ".tmp", "w") as handle:
            subprocess.run([agent, "embed", "--json", "--models-dir", models, *files], stdout=handle, check=True, stderr=subprocess.DEVNULL)
        os.rename(out + ".tmp", out)
    vectors = {}
    for entry in json.load(open(out)):
        face = (entry.get("analysis") or {}).get("primaryFace")
        if face and face.get("descriptor"):
            v = np.asarray(face["descriptor"], float)
            vectors[os.path.basename(entry["file"])] = v / np.linalg.norm(v)
    return vectors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", required=True, help="LFW folder: PERSON/PERSON_000N.jpg, 6 photos each")
    parser.add_argument("--work", required=True, help="scratch folder for frames and descriptors")
    parser.add_argument("--agent", default=".build/release/faceloop-agent")
    parser.add_argument("--models", default="models")
    parser.add_argument("--people", type=int, default=0, help="only the first N people (a quick check of the script)")
    args = parser.parse_args()
    people = sorted(os.listdir(args.faces))[:args.people or None]
    count = len(people)

    def photo(p, k):
        return np.asarray(Image.open(f"{args.faces}/{people[p]}/{people[p]}_{k:04d}.jpg").convert("RGB"))

    template_files = [f"{args.faces}/{people[p]}/{people[p]}_{k:04d}.jpg" for p in range(count) for k in (1, 2, 3)]
    known = embed(args.agent, args.models, template_files, f"{args.work}/templates.json")
    templates = np.zeros((3 * count, 128))
    valid = np.zeros(3 * count, bool)
    for i, path in enumerate(template_files):
        if os.path.basename(path) in known:
            templates[i], valid[i] = known[os.path.basename(path)], True
    genuine = np.repeat(np.arange(count), 3)[:, None] == np.repeat(np.arange(count), 3)[None, :]
    resamples = np.random.default_rng(1).integers(0, count, (1000, count))

    for condition, steps in STEPS.items():
        variants = {}
        for name, step in list(steps.items()) + [(f"{n}~mirror", None) for n in MIRRORED[condition]]:
            folder = f"{args.work}/{condition}/{name}"
            os.makedirs(folder, exist_ok=True)
            base = steps[name.split("~")[0]]
            for p in range(count):
                for k in (4, 5, 6):
                    path = f"{folder}/{p:03d}_{k}.jpg"
                    if not os.path.exists(path):
                        frame = base(CONDITIONS[condition](photo(p, k)))
                        if name.endswith("~mirror"):
                            frame = np.ascontiguousarray(frame[:, ::-1])
                        Image.fromarray(frame).save(path, quality=100, subsampling=0)
            files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".jpg"))
            found = embed(args.agent, args.models, files, f"{args.work}/{condition}-{name}.json")
            probes = np.zeros((3 * count, 128))
            for p in range(count):
                for k in (4, 5, 6):
                    probes[3 * p + k - 4] = found.get(f"{p:03d}_{k}.jpg", np.zeros(128))
            variants[name] = probes

        def failures(views):
            probes = sum(variants[v] for v in views)
            norms = np.linalg.norm(probes, axis=1, keepdims=True)
            scores = np.where(norms > 0, probes / np.maximum(norms, 1e-9), 0) @ templates.T
            scores[norms[:, 0] == 0, :] = -1
            scores[:, ~valid] = -1
            impostors = np.sort(scores[~genuine])
            threshold = impostors[int(np.ceil(len(impostors) * (1 - 1e-3)))]
            return (scores[genuine].reshape(3 * count, 3) < threshold).reshape(count, 9).sum(1)

        baseline = failures(["none"])
        views = [[v] for v in variants] + [[n, f"{n}~mirror"] for n in MIRRORED[condition]] \
            + [list(pair) for pair in itertools.combinations([v for v in steps if v != "none"][:2] + ["none"], 2)]
        for view in views:
            fails = failures(view)
            with np.errstate(divide="ignore", invalid="ignore"):  # a resample without failures (tiny --people runs)
                change = fails[resamples].sum(1) / baseline[resamples].sum(1) - 1
            print(f"{condition:15s} {' & '.join(view):40s} FNMR {fails.sum() / (9 * count):.4f} "
                  f"{(fails.sum() / baseline.sum() - 1) * 100:+6.1f} % [{np.percentile(change, 5) * 100:+.1f}, {np.percentile(change, 95) * 100:+.1f}]")


if __name__ == "__main__":
    main()

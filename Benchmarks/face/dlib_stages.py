"""Times dlib-bin's face pipeline per stage, image by image, as JSON on stdout.

Usage: dlib_stages.py MODELS_DIR IMAGE...
Stages match FaceLoop's: decode (Pillow), detect (CNN, upsample 0), landmarks (5-point),
chip (150x150, padding 0.25) and descriptor (ResNet on the chip).
"""
import json
import os
import sys
import time

import dlib
import numpy as np
from PIL import Image


def main(models_dir, paths):
    detector = dlib.cnn_face_detection_model_v1(os.path.join(models_dir, "mmod_human_face_detector.dat"))
    predictor = dlib.shape_predictor(os.path.join(models_dir, "shape_predictor_5_face_landmarks.dat"))
    encoder = dlib.face_recognition_model_v1(os.path.join(models_dir, "dlib_face_recognition_resnet_model_v1.dat"))
    results = []
    for path in paths:
        timings = {}
        start = time.perf_counter()
        img = np.asarray(Image.open(path).convert("RGB"))
        timings["decode"] = time.perf_counter() - start
        start = time.perf_counter()
        detections = detector(img, 0)
        timings["detect"] = time.perf_counter() - start
        entry = {"file": path, "width": img.shape[1], "height": img.shape[0], "faces": len(detections)}
        if len(detections) > 0:
            cx, cy = img.shape[1] / 2, img.shape[0] / 2
            best = min(detections, key=lambda d: (d.rect.center().x - cx) ** 2 + (d.rect.center().y - cy) ** 2)
            start = time.perf_counter()
            shape = predictor(img, best.rect)
            timings["landmarks"] = time.perf_counter() - start
            start = time.perf_counter()
            chip = dlib.get_face_chip(img, shape, size=150, padding=0.25)
            timings["chip"] = time.perf_counter() - start
            start = time.perf_counter()
            entry["descriptor"] = list(encoder.compute_face_descriptor(chip))
            timings["descriptor"] = time.perf_counter() - start
        entry["ms"] = {stage: seconds * 1000 for stage, seconds in timings.items()}
        results.append(entry)
    json.dump({"dlib": dlib.__version__, "images": results}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])

"""Compare the odsF pixel matchings: "exact", "bsds", and BSDS correspondPixels itself.

Run: .venv/bin/python benchmarks/odsf_matching.py [--images 20] [--stride 1] [--seeds 1]
                                                  [--reference-runs 0] [--json FILE]
Scores synthetic soft predictions in two sets: PASCAL-Context-like (320x480, max_dist 0.0075)
and NYUD-v2-like (480x640, max_dist 0.011), half the images each. A prediction is the object
boundaries of a random label map (bench_odsf.py's), shifted by up to 2 px, blurred, with a
strength that varies smoothly along them, plus weaker false boundaries of a second label map
and low texture noise (odsF about 0.7-0.8, as real models). For each
set it prints ODS / OIS / AP (x100) with ``matching="exact"``, with ``matching="bsds"`` for each
seed, and, with ``--reference-runs N``, with pyEdgeEval's ``correspond_pixels`` (BSDS match.cc,
seeded from the clock) run N times; plus the CPU time per image of each matching. NMS and
thinning are the same for all, so only the matching differs. ``--stride k`` keeps every k-th
threshold (the reference takes about a second per threshold). pyEdgeEval is optional
(``pip install pyEdgeEval==0.2.8``); without it the reference columns are skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "tasks" / "boundaries"))

from bench_odsf import random_labels  # noqa: E402
from scipy import ndimage  # noqa: E402
from sak_task_boundaries.odsf import (  # noqa: E402
    NYUD_MAX_DIST,
    PASCAL_CONTEXT_MAX_DIST,
    THRESHOLDS,
    BoundaryCounts,
    edge_nms,
    image_counts,
    seism_ground_truth,
    summarize_counts,
    thin,
)

SETS = (("PASCAL-like 320x480", 320, 480, PASCAL_CONTEXT_MAX_DIST), ("NYUD-like 480x640", 480, 640, NYUD_MAX_DIST))


def _boundary(labels: np.ndarray) -> np.ndarray:
    boundary = np.zeros(labels.shape, dtype=bool)
    boundary[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    boundary[:-1, :] |= labels[1:, :] != labels[:-1, :]
    return boundary


def _strength(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A smooth field, uniform over [0, 1) by rank."""
    field = ndimage.gaussian_filter(rng.random(shape), 10).ravel()
    return (np.argsort(np.argsort(field)) / field.size).reshape(shape)


def soft_dataset(count: int, height: int, width: int, seed: int):
    """``count`` (8-bit prediction, 0/1 boundary annotation) pairs, see the module docstring."""
    rng = np.random.default_rng(seed)
    predictions, annotations = [], []
    for _ in range(count):
        boundary = _boundary(random_labels(rng, height, width))
        shifted = np.roll(boundary, tuple(rng.integers(-2, 3, size=2)), axis=(0, 1))
        true = ndimage.gaussian_filter(shifted * _strength(rng, boundary.shape), 1.5) * 3.7  # peak ~ strength
        false = _boundary(random_labels(rng, height, width, shapes=6)) * _strength(rng, boundary.shape)
        false = ndimage.gaussian_filter(false, 1.5) * 3.7 * 0.6
        noise = ndimage.gaussian_filter(rng.random(boundary.shape), 2) * 0.1
        predictions.append((np.clip(np.maximum(true, false) + noise, 0, 1) * 255).astype(np.uint8))
        annotations.append(boundary.astype(np.uint8))
    return predictions, annotations


def reference_counts(prediction, annotation, max_dist, thresholds, correspond_pixels) -> BoundaryCounts:
    """image_counts' pipeline with BSDS correspondPixels (pyEdgeEval) doing the matching."""
    gt = seism_ground_truth(annotation)
    scores = edge_nms(prediction).astype(np.float64) / 255.0
    matched, total = [], []
    for t in thresholds:
        binary = thin(scores >= max(t, np.finfo(float).eps))
        match1, _, _, _ = correspond_pixels(binary.astype(np.float64), gt.astype(np.float64), max_dist)
        matched.append(int(np.count_nonzero(match1)))
        total.append(int(binary.sum()))
    k = len(thresholds)
    m = np.array(matched)[None]
    return BoundaryCounts(
        np.asarray(thresholds), m, np.full((1, k), int(gt.sum())), m.copy(), np.array(total)[None]
    )


def percent(scores: dict) -> str:
    return " ".join(f"{key} {scores[key] * 100:.3f}" for key in ("odsF", "oisF", "AP"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="images in all, half per set")
    parser.add_argument("--stride", type=int, default=1, help="keep every k-th of the 99 thresholds")
    parser.add_argument("--seeds", type=int, default=1, help="bsds seeds 0..N-1")
    parser.add_argument("--reference-runs", type=int, default=0, help="pyEdgeEval correspond_pixels runs")
    parser.add_argument("--json", help="write every score here")
    args = parser.parse_args()

    correspond_pixels = None
    if args.reference_runs:
        try:
            from pyEdgeEval._lib.correspond_pixels import correspond_pixels
        except ImportError:
            print("pyEdgeEval is not installed: no reference columns (pip install pyEdgeEval==0.2.8)")
    thresholds = THRESHOLDS[:: args.stride]
    report = {"thresholds": len(thresholds), "sets": {}}
    for name, height, width, max_dist in SETS:
        predictions, annotations = soft_dataset(args.images // 2, height, width, seed=height)
        rows: dict[str, list[BoundaryCounts]] = {}
        seconds: dict[str, float] = {}

        def add(label, fn):
            for pred, ann in zip(predictions, annotations):
                start = time.process_time()
                rows.setdefault(label, []).append(fn(pred, ann))
                seconds[label] = seconds.get(label, 0.0) + time.process_time() - start

        add("exact", lambda p, a: image_counts(p, a, max_dist, thresholds=thresholds, matching="exact"))
        for seed in range(args.seeds):
            add(f"bsds seed {seed}", lambda p, a, s=seed: image_counts(
                p, a, max_dist, thresholds=thresholds, matching="bsds", seed=s))
        if correspond_pixels is not None:
            for run in range(args.reference_runs):
                add(f"reference run {run}", lambda p, a: reference_counts(p, a, max_dist, thresholds, correspond_pixels))
        print(f"{name}, {len(predictions)} images, {len(thresholds)} thresholds, max_dist {max_dist}")
        scores = {label: summarize_counts(BoundaryCounts.stack(r)) for label, r in rows.items()}
        for label, s in scores.items():
            matched = sum(int(c.matched_pred.sum()) for c in rows[label])
            print(f"  {label:16s} {percent(s)}  matched {matched}  "
                  f"{seconds[label] / len(predictions):.2f} s CPU/image")
        report["sets"][name] = {
            label: {**s, "matched": sum(int(c.matched_pred.sum()) for c in rows[label]),
                    "cpu_s_per_image": seconds[label] / len(predictions)}
            for label, s in scores.items()
        }
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

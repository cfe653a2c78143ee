"""Time boundary odsF (SEISM protocol) on NYUD-v2-sized synthetic data: 654 images at 480x640.

Run: .venv/bin/python benchmarks/bench_odsf.py [--images 654] [--workers N] [--matching bsds|exact]
The maps imitate a network's output: blurred, slightly displaced object boundaries with weak
texture responses and noise, written as 8-bit sigmoid maps (after NMS about 3,500 boundary
pixels per image, as NYUD-v2). With fewer images it also prints the time extrapolated to 654.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins" / "tasks" / "boundaries"))

from sak_task_boundaries.odsf import NYUD_MAX_DIST, evaluate_odsf  # noqa: E402


def random_labels(rng: np.random.Generator, height: int, width: int, shapes: int = 12) -> np.ndarray:
    """A label map of overlapping random ellipses and rectangles on a background."""
    yy, xx = np.mgrid[:height, :width]
    labels = np.zeros((height, width), dtype=np.int32)
    for label in range(1, shapes + 1):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(20, height / 3), rng.uniform(20, width / 3)
        if rng.random() < 0.5:
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        else:
            inside = (np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)
        labels[inside] = label
    return labels


def fake_prediction(rng: np.random.Generator, boundary: np.ndarray) -> np.ndarray:
    """A blurry, shifted, noisy 8-bit boundary probability map for a GT boundary map."""
    shifted = np.roll(boundary, tuple(rng.integers(-2, 3, size=2)), axis=(0, 1)).astype(np.float32)
    keep = ndimage.gaussian_filter(rng.random(boundary.shape).astype(np.float32), 6) > 0.48
    ridge = ndimage.gaussian_filter(shifted * keep, 1.5) * 6.0
    texture = ndimage.gaussian_filter(rng.random(boundary.shape).astype(np.float32), 3)
    texture = np.clip((texture - 0.5) * 8.0, 0, None)
    prob = np.clip(ridge + 0.3 * texture + 0.02 * rng.random(boundary.shape), 0, 1)
    return (prob * 255).astype(np.uint8)


def make_dataset(count: int, height: int, width: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    predictions, annotations = [], []
    for _ in range(count):
        labels = random_labels(rng, height, width)
        boundary = np.zeros((height, width), dtype=bool)
        boundary[:, :-1] |= labels[:, 1:] != labels[:, :-1]
        boundary[:-1, :] |= labels[1:, :] != labels[:-1, :]
        predictions.append(fake_prediction(rng, boundary))
        annotations.append(boundary.astype(np.uint8))  # NYUD-style 0/1 boundary map
    return predictions, annotations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=654)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--workers", type=int, default=None, help="default: one per CPU")
    parser.add_argument("--matching", choices=("bsds", "exact"), default="bsds", help="default: bsds")
    args = parser.parse_args()

    start = time.perf_counter()
    predictions, annotations = make_dataset(args.images, args.height, args.width)
    made = time.perf_counter() - start

    start = time.perf_counter()
    scores = evaluate_odsf(predictions, annotations, NYUD_MAX_DIST, matching=args.matching, workers=args.workers)
    elapsed = time.perf_counter() - start
    workers = args.workers if args.workers is not None else len(os.sched_getaffinity(0))
    print(f"data: {args.images} images {args.height}x{args.width} made in {made:.1f} s")
    print(
        f"odsF evaluation ({args.matching} matching): {elapsed:.1f} s ({elapsed / 60:.2f} min) with {workers} worker(s), "
        f"{elapsed / args.images * 1000:.0f} ms/image wall"
    )
    if args.images != 654:
        print(f"extrapolated to 654 images: {elapsed / args.images * 654 / 60:.2f} min")
    print("scores: " + ", ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in scores.items()))


if __name__ == "__main__":
    main()

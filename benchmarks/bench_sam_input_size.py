"""SAM teacher cost and fidelity at smaller ``input_size``: forward time and feature similarity.

Run: .venv/bin/python benchmarks/bench_sam_input_size.py [--images 3] [--sizes 1024,768,512]
     [--image-size 384x512] [--size vit_b] [--threads N]

Builds the real SAM image encoder (ViT-B by default, segment-anything backend) once per input
size with the same weights, runs it on the toolkit's synthetic scenes (batch 1), and prints per
size: the grid, the mean forward time per image (the first image of each size not counted: it
pays one-off set-up costs), its speed-up over the first size, and the cosine
similarity of the tapped feature maps to the first size's: each map is cropped to the part of
the grid that covers the image (``valid_size``), resized bilinearly to the first size's valid
grid, and compared as one flattened vector per image and level (as the distillation loss does).

Weights: the official checkpoint when ``sam_vit_b_01ec64.pth`` is in the weights folder
(``$SAK_WEIGHTS`` or ``~/.cache/sak/weights``, see ``sak weights sam``), else a random init,
which the output says. Random-init similarities only show how much the architecture itself
changes with the input size; the pretrained encoder's are the ones to choose a size by.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F

import sak_core
from sak_core.datasets.batch import collate_samples
from sak_core.errors import RandomWeightsWarning
from sak_core.weights.sources import cached_path


def parse_size(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    return int(h), int(w or h)


def scenes(count: int, size: tuple[int, int]) -> torch.Tensor:
    """``count`` synthetic scenes, normalised as the data pipeline does: count x 3 x H x W."""
    data = sak_core.get_dataset_spec("synthetic").create("val", input_size=size, tasks=[], count=max(5 * count, 10))
    return collate_samples([data[i] for i in range(count)])["image"]


def valid_crop(features: torch.Tensor, valid: tuple[int, int] | None) -> torch.Tensor:
    return features if valid is None else features[..., : valid[0], : valid[1]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--sizes", default="1024,768,512", help="input sizes; the first is the reference")
    parser.add_argument("--image-size", default="384x512", help="HxW of the synthetic scenes")
    parser.add_argument("--size", default="vit_b", help="SAM size: vit_b, vit_l, vit_h")
    parser.add_argument("--backend", default="segment_anything")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    images = scenes(args.images, parse_size(args.image_size))
    options = dict(size=args.size, backend=args.backend)

    with tempfile.TemporaryDirectory() as tmp:
        spec = sak_core.get_teacher_spec("sam", input_size=sizes[0], **options)
        found = next((p for p in map(cached_path, spec.weights) if p is not None), None)  # never downloads
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RandomWeightsWarning)
            reference = sak_core.create_teacher("sam", input_size=sizes[0], weights=str(found or "random"), **options)
        weights_note = (f"pretrained weights ({found.name})" if found else "RANDOM weights (no checkpoint on this "
                        "machine): the similarities say little about the pretrained encoder")
        path = Path(tmp) / "sam.pth"
        torch.save(reference.model.state_dict(), path)  # every size gets the same weights
        print(f"SAM {args.size} ({args.backend}), {weights_note}; {args.images} synthetic scenes at {args.image_size}, "
              f"batch 1, {torch.get_num_threads()} threads")
        print("| input_size | grid | s / image | speed-up | cosine to first (mean of levels) | cosine, last level |")
        print("|---|---|---|---|---|---|")
        first: list[list[torch.Tensor]] = []
        base_time = None
        for size in sizes:
            teacher = reference if size == sizes[0] else sak_core.create_teacher(
                "sam", input_size=size, weights=str(path), **options)
            times, cosines = [], []
            for i in range(args.images):
                start = time.perf_counter()
                out = teacher(images[i : i + 1])
                times.append(time.perf_counter() - start)
                maps = [valid_crop(f, out.valid_size) for f in out.features]
                if size == sizes[0]:
                    first.append(maps)
                    continue
                per_level = []
                for ours, ref in zip(maps, first[i]):
                    ours = F.interpolate(ours, size=ref.shape[-2:], mode="bilinear", align_corners=False)
                    per_level.append(F.cosine_similarity(ours.flatten(1), ref.flatten(1)).item())
                cosines.append(per_level)
            timed = times[1:] or times  # the first forward of a size pays one-off set-up costs
            seconds = sum(timed) / len(timed)
            base_time = base_time or seconds
            grid = size // teacher.spec.patch_size
            if cosines:
                levels = torch.tensor(cosines).mean(0)
                cos_mean, cos_last = f"{levels.mean():.3f}", f"{levels[-1]:.3f}"
            else:
                cos_mean = cos_last = "1 (reference)"
            print(f"| {size} | {grid} x {grid} | {seconds:.2f} | {base_time / seconds:.2f}x | {cos_mean} | {cos_last} |",
                  flush=True)
            if teacher is not reference:
                del teacher
    print(f"load average (1 min) at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (timings of a shared "
          "machine are only as steady as its load)")


if __name__ == "__main__":
    main()

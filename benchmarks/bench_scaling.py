"""How step cost grows with the work: stage-1 step and inference time versus input size and number of
teachers, at fp32 and auto, drawn into a PNG; and per-worker images/s of the PASCAL-Context and
NYUD-v2 loaders at the paper's sizes, with augmentation, on synthetic scenes in their real layouts.

    python benchmarks/bench_scaling.py --out docs/images/scaling.png [--sizes 224,384,512]
        [--teachers 1,2,3] [--threads 2] [--loaders-only | --no-loaders]

The models are ``bench_steps.py``'s ``cpu`` setting (a ViT-S stem with aligners; teachers
DINOv2-S/14, timm's CLIP-B/16, then SAM-B with its input size set to the benchmark's), so that a
CPU measures the whole grid in minutes; the paper's B-size models scale the same way, several
times slower. Random weights, nothing downloaded. Batch 2; each point is the median of ``--steps``
timed steps after one warm-up. A precision that resolves to one already measured (auto is fp32 on
a CPU without native bf16) is not measured twice: the figure says so.

Loaders: ``sak data synth`` renders scenes at each dataset's usual image size (PASCAL 375x500, NYUD
480x640) in its on-disk layout; the training dataset (augmentation on) is read in this process, the
rate of one loader worker. The decode share is the time PIL takes to open and convert each sample's
image, and torchvision's ``decode_image`` is timed on the same files as the faster decoder.
matplotlib is needed for the figure only (``pip install matplotlib``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_steps  # noqa: E402  - the step benchmark's builders and machine line

THIRD_TEACHER = {"name": "sam", "options": {"size": "vit_b", "backend": "timm"}}
LOADERS = {"pascal-context": ((375, 500), (512, 512)), "nyud": ((480, 640), (448, 576))}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="scaling.png", help="the figure (PNG); its data goes beside it as .json")
    p.add_argument("--sizes", default="224,384,512", help="input sides (square)")
    p.add_argument("--teachers", default="1,2,3", help="numbers of teachers")
    p.add_argument("--precisions", default="fp32,auto")
    p.add_argument("--steps", type=int, default=2, help="timed steps per point (default 2)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--samples", type=int, default=12, help="samples read per loader (default 12)")
    p.add_argument("--no-loaders", action="store_true")
    p.add_argument("--loaders-only", action="store_true")
    p.add_argument("--replot", metavar="JSON", help="draw --out from a saved .json (or JSON lines of points)")
    p.add_argument("--machine", help="with --replot of JSON lines: the machine line to print on the figure")
    return p.parse_args(argv)


def step_seconds(stage: str, precision: str, size: int, teachers: int, steps: int) -> float:
    """Median seconds of a ``stage`` step (teachers' forward included) at ``size`` with ``teachers``."""
    entries = [dict(t) for t in bench_steps.CPU_TEACHERS]
    entries.append({**THIRD_TEACHER, "options": {**THIRD_TEACHER["options"], "input_size": size}})
    args = bench_steps.parse_args(["--setting", "cpu", "--size", f"{size}x{size}", "--batch", "2"])
    args.cpu_teachers = entries[:teachers]
    variant = bench_steps.build_variant(stage, bench_steps.Spec.parse(precision), args, {})
    variant.block(1)
    return statistics.median(t + s for t, s in variant.block(steps))


def measure_steps(args: argparse.Namespace) -> dict:
    import torch

    from sak_core.runtime.device import resolve_precision

    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    counts = [int(n) for n in args.teachers.split(",")]
    resolved: dict[str, str] = {}
    for name in args.precisions.split(","):
        resolved[name] = resolve_precision(name, torch.device("cpu")).name
    points = []
    for name, precision in resolved.items():
        if precision in [resolved[n] for n in list(resolved)[: list(resolved).index(name)]]:
            continue  # the same computation as an earlier name
        for size in sizes:  # teachers built afresh for each point (SAM's input size follows the size)
            for count in counts:
                seconds = step_seconds("stage1", name, size, count, args.steps)
                points.append({"stage": "stage1", "precision": name, "size": size, "teachers": count, "s": seconds})
                print(json.dumps(points[-1]), flush=True)
            seconds = step_seconds("inference", name, size, 0, args.steps)
            points.append({"stage": "inference", "precision": name, "size": size, "teachers": 0, "s": seconds})
            print(json.dumps(points[-1]), flush=True)
    return {"points": points, "resolved": resolved, "machine": bench_steps.machine()}


def measure_loaders(args: argparse.Namespace) -> list[dict]:
    """Per-worker images/s of each dataset's training loader (augmentation on) and its decode share."""
    import numpy as np
    from PIL import Image

    from sak_core.config import build_config
    from sak_core.training import data as data_mod

    try:
        from torchvision.io import decode_image, read_file
    except ImportError:  # torchvision is optional
        decode_image = None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for dataset, (image_size, input_size) in LOADERS.items():
            root = Path(tmp) / dataset
            subprocess.run([str(Path(sys.executable).parent / "sak"), "data", "synth", "--layout", dataset,
                            "--out", str(root), "-n", str(args.samples + 4), "--size",
                            f"{image_size[0]}x{image_size[1]}", "--val-fraction", "0.2"], check=True,
                           capture_output=True)
            config = build_config({"stage": 2, "teachers": [], "tasks": "all", "model": {"stem": "vit_small"},
                                   "data": {"dataset": dataset, "root": str(root), "input_size": list(input_size)}})
            from sak_core.model.mixture import build_run_dataset, resolve_tasks, run_datasets

            (run_data,) = run_datasets(config)
            tasks = resolve_tasks(config, [run_data])
            samples = data_mod.SeededSamples(build_run_dataset(run_data, "train", True, tasks))
            count = min(args.samples, len(samples))
            samples[(0, 0)]  # first-use set-up
            t0 = time.perf_counter()
            for i in range(count):
                samples[(i, i)]
            total = (time.perf_counter() - t0) / count
            files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")
                           and "image" in str(p.relative_to(root)).lower())[:count]
            t0 = time.perf_counter()
            for f in files:
                np.asarray(Image.open(f).convert("RGB"))
            pil = (time.perf_counter() - t0) / max(len(files), 1)
            fast = None
            if decode_image is not None and files:
                t0 = time.perf_counter()
                for f in files:
                    decode_image(read_file(str(f)))
                fast = (time.perf_counter() - t0) / len(files)
            rows.append({"dataset": dataset, "image": f"{image_size[0]}x{image_size[1]}",
                         "input": f"{input_size[0]}x{input_size[1]}", "tasks": ",".join(tasks),
                         "images_per_s": 1 / total, "decode_ms": 1000 * pil, "decode_share": pil / total,
                         "torchvision_decode_ms": None if fast is None else 1000 * fast,
                         "images_per_s_with_torchvision_decode": None if fast is None else 1 / (total - pil + fast),
                         "decoded_files": len(files)})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def draw(result: dict, out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit("the figure needs matplotlib: pip install matplotlib (its data is in the .json)") from None
    points = result["points"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = {"fp32": "-", "auto": "--", "bf16": ":"}
    for precision in sorted({p["precision"] for p in points}):
        counts = sorted({p["teachers"] for p in points if p["stage"] == "stage1"})
        for count in counts:
            xs = [p for p in points if p["stage"] == "stage1" and p["teachers"] == count and p["precision"] == precision]
            left.plot([p["size"] for p in xs], [p["s"] for p in xs], styles.get(precision, "-"), marker="o",
                      label=f"{count} teacher{'s' if count > 1 else ''}, {precision}")
        xs = [p for p in points if p["stage"] == "inference" and p["precision"] == precision]
        right.plot([p["size"] for p in xs], [p["s"] for p in xs], styles.get(precision, "-"), marker="o",
                   label=f"inference, {precision}")
    same = [f"{n} = {r}" for n, r in result["resolved"].items() if n != r]
    for axis, title in ((left, "stage-1 step (teachers + student), batch 2"), (right, "inference, batch 2")):
        axis.set_xlabel("input side (px)")
        axis.set_ylabel("seconds per step")
        axis.set_title(title, fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    note = "; ".join(same) + " (not measured twice)" if same else ""
    fig.suptitle(f"cpu setting (ViT-S stem; DINOv2-S, CLIP-B/16, SAM-B). {note}\n{result['machine']}", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if args.replot:  # a saved result, or the JSON lines a run printed (e.g. one stopped early)
        text = Path(args.replot).read_text()
        try:
            result = json.loads(text)
        except json.JSONDecodeError:
            lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
            result = {"points": [p for p in lines if "stage" in p], "loaders": [p for p in lines if "dataset" in p],
                      "resolved": {n: n for n in {p["precision"] for p in lines if "stage" in p}},
                      "machine": args.machine or bench_steps.machine()}
        draw(result, out)
        print(f"figure written to {out}")
        return 0
    result: dict = {}
    if not args.loaders_only:
        result.update(measure_steps(args))
    if not args.no_loaders:
        result["loaders"] = measure_loaders(args)
    out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n")
    if "points" in result:
        draw(result, out)
        print(f"figure written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

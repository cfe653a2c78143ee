"""onnxruntime vs PyTorch CPU latency of the student, side by side in one process.

    python benchmarks/bench_onnx.py                       # the paper-pascal student at 512x512
    python benchmarks/bench_onnx.py --stem vit_small --runs 5

The student has the ``paper-pascal`` shape (ViT-B stem, DINOv2, CLIP and SAM adapter paths, the
5 PASCAL-Context tasks) with random weights; it is exported with :func:`sak_core.convert.onnx.export_onnx`
and both runtimes then run batch-1 forwards in fp32, alternating (PyTorch, onnxruntime, PyTorch,
...), so that a noisy shared machine slows both alike. Prints the median latency of each, the
ratio, and the largest output difference. These are figures to read, not tests.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sak_core import StudentConfig, create_student
from sak_core.convert.onnx import INPUT_NAME, compare_with_onnxruntime, export_onnx

PASCAL_TASKS = {"semseg": 59, "parts": 7, "saliency": 1, "normals": 3, "boundaries": 1}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stem", default="vit_base")
    parser.add_argument("--size", type=int, nargs=2, default=(512, 512), metavar=("H", "W"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=7, help="timed forwards per runtime (after one warm-up)")
    args = parser.parse_args(argv)

    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    student = create_student(StudentConfig(
        stem=args.stem, input_size=tuple(args.size), teachers={"dinov2": 768, "clip": 768, "sam": 768},
        aligners=True, tasks=PASCAL_TASKS,
    )).eval()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "student.onnx"
        started = time.perf_counter()
        export_onnx(student, path, size=args.size)
        print(f"export: {time.perf_counter() - started:.1f} s", flush=True)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = args.threads
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        image = torch.randn(1, 3, *args.size)
        feed = {INPUT_NAME: image.numpy()}
        times: dict[str, list[float]] = {"pytorch": [], "onnxruntime": []}
        with torch.inference_mode():
            for run in range(args.runs + 1):  # run 0 warms both up
                started = time.perf_counter()
                student(image)
                torch_s = time.perf_counter() - started
                started = time.perf_counter()
                session.run(None, feed)
                ort_s = time.perf_counter() - started
                if run:
                    times["pytorch"].append(torch_s)
                    times["onnxruntime"].append(ort_s)
        diff = max(compare_with_onnxruntime(student, path, image, threads=args.threads).values())
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"{args.stem} student, 5 tasks, 3 teachers, {args.size[0]}x{args.size[1]}, batch 1, fp32, "
          f"{args.threads} thread(s), torch {torch.__version__}, onnxruntime {ort.__version__}, "
          f"median of {args.runs}")
    for name, value in median.items():
        spread = f"{min(times[name]):.3f}-{max(times[name]):.3f}"
        print(f"  {name:<12} {value:.3f} s  (range {spread})")
    print(f"  onnxruntime / pytorch: {median['onnxruntime'] / median['pytorch']:.2f}")
    print(f"  max abs output difference: {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

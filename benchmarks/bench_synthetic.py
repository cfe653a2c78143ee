"""Synthetic scene generation speed: images per second on one core (target: >= 20 at 128x128).

    python benchmarks/bench_synthetic.py [--size 128x128] [-n 100] [--layout native]

Prints the rendering rate (scenes in memory) and the rate with the files of a layout written.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from sak_core.datasets.base import parse_size
from sak_core.datasets.synthetic.layouts import write_layout
from sak_core.datasets.synthetic.render import render_index


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="128x128")
    parser.add_argument("-n", "--count", type=int, default=100)
    parser.add_argument("--layout", default="native", choices=("native", "nyud", "pascal-context"))
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):  # one core, as the target says
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    size = parse_size(args.size)
    render_index(0, 0, size)  # warm-up (imports, lookup tables)

    start_wall, start_cpu = time.perf_counter(), time.process_time()
    for i in range(args.count):
        render_index(0, i, size)
    wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    print(f"render  {size[0]}x{size[1]}: {args.count / wall:6.1f} images/s wall, {args.count / cpu:6.1f} images/s CPU")

    with tempfile.TemporaryDirectory() as out:
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        write_layout(out, args.layout, args.count, size, seed=0)
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
    print(f"write   {args.layout:>7s}: {args.count / wall:6.1f} images/s wall, {args.count / cpu:6.1f} images/s CPU")


if __name__ == "__main__":
    main()

"""Swap two students into a run's ``checkpoints/last`` without pause, as a live run with
``checkpoint_every: 1`` does: ``python swap_checkpoints.py RUN A.safetensors B.safetensors``.
Prints ``swapping`` once the first checkpoint is in place; runs until killed."""

from __future__ import annotations

import sys
from pathlib import Path

from sak_core.run.checkpoint import load_student
from sak_core.run.rundir import RunDir, write_checkpoint


def main(run: str, *students: str) -> None:
    loaded = [load_student(path) for path in students]
    last = RunDir(Path(run)).last
    write_checkpoint(last, loaded[0], {"step": 0})
    print("swapping", flush=True)
    step = 1
    while True:
        write_checkpoint(last, loaded[step % len(loaded)], {"step": step})
        step += 1


if __name__ == "__main__":
    main(*sys.argv[1:])

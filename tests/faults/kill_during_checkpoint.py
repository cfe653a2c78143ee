"""Kill -9 a training process at chosen filesystem operations of its checkpoint writes, then
resume: run as ``python kill_during_checkpoint.py WORKDIR SEED POINTS`` (POINTS=all for every one).

A base run is trained to step 2. For each kill point a copy of it resumes in a forked child that
SIGKILLs itself just before the n-th mkdir/rename/replace/fsync/rmtree inside ``write_checkpoint``;
the parent then resumes that copy to the end and compares the final weights with an uninterrupted
resume. Prints one JSON object: {"operations": N, "points": [{point, killed, resumed_from, max_diff}]}.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file

import sak_toy_plugin
from sak_core.config import build_config, deep_merge
from sak_core.plugin.registry import temporary_plugin
from sak_core.training import loop
from sak_core.run.rundir import RunDir, read_trainer_state
from sak_test_utils import TOY_RUN

CONFIG = deep_merge(TOY_RUN, {"optim": {"iterations": 6}, "output": {"checkpoint_every": 3, "val_every": 3}})
_state = {"armed": False, "count": 0, "kill_at": None}


def _hooked(fn):
    def wrapper(*args, **kwargs):
        if _state["armed"]:
            _state["count"] += 1
            if _state["count"] == _state["kill_at"]:
                os.kill(os.getpid(), signal.SIGKILL)
        return fn(*args, **kwargs)

    return wrapper


def _armed(fn):
    def wrapper(*args, **kwargs):
        _state["armed"] = True
        try:
            return fn(*args, **kwargs)
        finally:
            _state["armed"] = False

    return wrapper


def install_hooks() -> None:
    for name in ("mkdir", "rename", "replace", "fsync"):
        setattr(os, name, _hooked(getattr(os, name)))
    shutil.rmtree = _hooked(shutil.rmtree)
    loop.write_checkpoint = _armed(loop.write_checkpoint)


def resume(run: Path) -> None:
    loop.Trainer(build_config(CONFIG), run, resume=True, device="cpu", console=None).run()


def main(work: Path, seed: int, points: str) -> dict:
    torch.set_num_threads(1)
    install_hooks()
    base = work / "base"
    loop.Trainer(build_config(CONFIG), base, device="cpu").run(stop_at=2)
    reference = work / "reference"
    shutil.copytree(base, reference)
    _state["count"] = 0
    resume(reference)  # counts the operations of every checkpoint write after step 2
    operations = _state["count"]
    expected = load_file(str(reference / "model.safetensors"))
    chosen = range(1, operations + 1) if points == "all" else sorted(
        random.Random(seed).sample(range(1, operations + 1), int(points)))
    results = []
    for point in chosen:
        run = work / f"kill{point}"
        shutil.copytree(base, run)
        pid = os.fork()
        if pid == 0:  # the child: resume with the kill armed
            _state.update(count=0, kill_at=point)
            try:
                resume(run)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        _state.update(count=0, kill_at=None)
        recovered = RunDir(run).recover()
        step = int(read_trainer_state(recovered)["step"]) if recovered else None
        resume(run)
        final = load_file(str(run / "model.safetensors"))
        diff = max(float((final[k] - expected[k]).abs().max()) for k in expected)
        results.append({"point": point, "killed": killed, "resumed_from": step, "max_diff": diff,
                        "same_keys": sorted(final) == sorted(expected)})
    return {"operations": operations, "points": results}


if __name__ == "__main__":
    with temporary_plugin(sak_toy_plugin, distribution="sak-toy-plugin"):
        print(json.dumps(main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3])))

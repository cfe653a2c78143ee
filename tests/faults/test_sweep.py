"""The reliability sweep (tests/faults/sweep.py, recorded in docs/reliability.md) as a test: over
100 bad inputs and faults across every command, none loses data, none gives a wrong result
without an error, none ends in a traceback or a "bug" hint. Slow: a few minutes on 2 cores."""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest


def _load(name: str):
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])
    return sys.modules[name]


def test_the_sweep_has_over_100_distinct_cases_across_every_command(tmp_path):
    sweep = _load("sweep")
    cases = sweep.all_cases()
    ids = [case.id for case in cases]
    assert len(ids) >= 100 and len(set(ids)) == len(ids)
    (tmp_path / "data" / "gt_sets").mkdir(parents=True)  # some commands name a sample of the workspace's splits
    for split in ("train", "val"):
        (tmp_path / "data" / "gt_sets" / f"{split}.txt").write_text("scene\n")
    commands = {case.argv(tmp_path)[0] for case in cases}
    assert commands >= {"train", "eval", "predict", "export", "convert", "analyze", "data", "weights", "describe",
                        "plugins", "new"}


@pytest.mark.slow
def test_the_sweep_finds_no_data_lost_no_silent_wrong_result_no_traceback(tmp_path):
    sweep = _load("sweep")
    outcomes = sweep.sweep(tmp_path, log=lambda line: None)
    severe = [f"{o.kind}: {o.case}: {o.line}" for o in outcomes if o.kind in sweep.SEVERE]
    assert severe == [], "\n".join(severe)
    assert Counter(o.kind for o in outcomes)["clean"] >= 100

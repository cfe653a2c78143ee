"""kill -9 at seeded points of checkpoint writes (in a real subprocess), then `--resume`: the
run always continues from a complete checkpoint and ends with the uninterrupted run's weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sak_test_utils import sak_env

DRIVER = Path(__file__).with_name("kill_during_checkpoint.py")


def _kill_and_resume(work: Path, seed: int, points: str) -> dict:
    r = subprocess.run([sys.executable, str(DRIVER), str(work), str(seed), points], capture_output=True, text=True,
                       env=sak_env(env={"OMP_NUM_THREADS": "1"}), timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _check(report: dict) -> None:
    assert report["operations"] > 20  # three checkpoint writes (step 3, best, step 6), each many steps
    for point in report["points"]:
        assert point["killed"], point  # the kill point was reached: the child really died there
        assert point["resumed_from"] in (2, 3, 6), point  # a complete checkpoint, never none
        assert point["same_keys"] and point["max_diff"] == 0.0, point


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the driver forks")
def test_kill_at_seeded_points_of_checkpoint_writes_then_resume(tmp_path):
    _check(_kill_and_resume(tmp_path, seed=16, points="4"))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="the driver forks")
def test_kill_at_every_point_of_checkpoint_writes_then_resume(tmp_path):
    report = _kill_and_resume(tmp_path, seed=0, points="all")
    _check(report)
    assert len(report["points"]) == report["operations"]
    assert {p["resumed_from"] for p in report["points"]} == {2, 3, 6}

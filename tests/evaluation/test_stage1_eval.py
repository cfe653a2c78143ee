"""`sak eval` of a stage-1 run (no task heads): per teacher and tap level, the cosine and centred
cosine of the student's maps to the run's teachers, rebuilt as training built them."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from rich.console import Console

from sak_core.plugin.lookup import list_teachers
from sak_core.config import build_config, deep_merge
from sak_core.presets import get_preset
from sak_test_utils import run_sak

pytestmark = pytest.mark.skipif("dinov2" not in list_teachers(), reason="the dinov2 teacher plugin is not installed")

ENV = {"SAK_LOAD_PLUGINS": "sak-teacher-dinov2", "OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def demo_stage1(tmp_path_factory):
    """A demo stage-1 run with the preset's dinov2 (random weights) as its one teacher, 2 steps."""
    from sak_core.training import train

    demo = get_preset("demo").as_layer()
    quick = {"stage": 1, "teachers": demo["teachers"][:1], "data": {"options": {"count": 16}, "val_limit": 4},
             "optim": {"iterations": 2}, "output": {"tensorboard": False}}
    demo.pop("teachers")
    run = tmp_path_factory.mktemp("stage1") / "run"
    result = train(build_config(deep_merge(demo, quick)), run, console=Console(file=io.StringIO()))
    return run, result


def test_eval_of_a_stage1_run_prints_each_teachers_cosine_and_centred_cosine(demo_stage1):
    run, trained = demo_stage1
    r = run_sak("eval", str(run), "--out", str(run / "scores.json"), env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "no task heads" in " ".join(r.stderr.split()) and "dinov2" in r.stderr
    assert "random weights" in r.stderr  # the run's random-weights teacher warns as in training
    assert "cosine ↑" in r.stdout and "centred cosine ↑" in r.stdout
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in r.stdout.splitlines() if "│" in line]
    mean = next(row for row in rows if row[0] == "dinov2")
    assert mean[1] == "mean" and [row[1] for row in rows[rows.index(mean) + 1:][:4]] == ["0", "1", "2", "3"]
    document = json.loads((run / "scores.json").read_text())
    scores = document["distillation"]["teachers"]["dinov2"]
    assert float(mean[2]) == pytest.approx(scores["cosine"], rel=1e-3)
    assert float(mean[3]) == pytest.approx(scores["centred_cosine"], rel=1e-3)
    assert len(scores["levels"]) == 4 and document["metrics"] == {}
    # the same teacher as in training: eval reproduces the run's last validation
    final = trained.final_scores
    assert scores["cosine"] == pytest.approx(final["distill/dinov2/cosine"], abs=1e-5)
    assert scores["centred_cosine"] == pytest.approx(final["distill/dinov2/centred_cosine"], abs=1e-5)
    assert scores["levels"][2]["centred_cosine"] == pytest.approx(final["distill/dinov2/level2/centred_cosine"],
                                                                  abs=1e-5)
    assert document["distillation"]["loss"] == pytest.approx(final["distill/loss"], rel=1e-4)


def test_a_bare_stage1_checkpoint_names_what_is_missing(demo_stage1, tmp_path):
    run, _ = demo_stage1
    bare = tmp_path / "student.safetensors"
    shutil.copy(run / "model.safetensors", bare)
    r = run_sak("eval", str(bare), "--dataset", "synthetic", "--out", str(tmp_path / "m.json"), env=ENV)
    assert r.returncode == 1
    message = " ".join(r.stderr.split())
    assert "error:" in message and "has no task heads (a stage-1 student)" in message
    assert "no run config.yaml" in message and "Traceback" not in message

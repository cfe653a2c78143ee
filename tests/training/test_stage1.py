"""Stage 1 is measurable: validation reports each teacher's cosine and centred cosine, a run
without validation data says so, the demo preset runs stage 1 and with one teacher plugin."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from sak_core.plugin.lookup import list_teachers
from sak_test_utils import run_sak


def write_images(folder, count: int, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 255, (40, 44, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def stage1_on_images(toy_config, root, run_dir):
    from sak_core.training import train

    config = toy_config(stage=1, tasks=[], teachers=[{"name": "toy_b"}],
                        data={"dataset": "images", "root": str(root), "val_split": "val", "options": {}},
                        optim={"iterations": 2})
    out = io.StringIO()
    result = train(config, run_dir, console=Console(file=out, width=400))
    return result, out.getvalue()


def test_stage1_validation_reports_cosine_and_centred_cosine_per_teacher_and_level(toy_config, tmp_path):
    write_images(tmp_path / "photos" / "train", 4)
    write_images(tmp_path / "photos" / "val", 3, seed=1)
    result, log = stage1_on_images(toy_config, tmp_path / "photos", tmp_path / "run")
    assert "no validation data" not in log
    scores = result.final_scores
    levels = sorted({k.split("/")[2] for k in scores if "/level" in k})
    assert levels == ["level0", "level1", "level2", "level3"]
    for key in ("cosine", "centred_cosine"):
        values = [scores[f"distill/toy_b/{level}/{key}"] for level in levels]
        assert all(-1 <= v <= 1 for v in values)
        assert scores[f"distill/toy_b/{key}"] == pytest.approx(sum(values) / len(values))
    val = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
           if json.loads(line)["split"] == "val"]
    assert [v["step"] for v in val] == [0, 2]
    assert {"distill/loss", "distill/toy_b/centred_cosine", "distill/toy_b/level3/cosine"} <= set(val[-1])
    # the log line shows each teacher's means; the levels are in metrics.jsonl
    line = next(x for x in log.splitlines() if x.startswith("validation at step 2"))
    assert "distill/toy_b/centred_cosine" in line and "level0" not in line


def test_a_stage1_run_without_validation_data_says_so_at_start(toy_config, tmp_path):
    write_images(tmp_path / "photos" / "some", 4)  # no val/ folder
    result, log = stage1_on_images(toy_config, tmp_path / "photos", tmp_path / "run")
    notes = [x for x in log.splitlines() if "no validation data" in x]
    assert len(notes) == 1 and "has no split 'val'" in notes[0] and str(tmp_path / "photos" / "val") in notes[0]
    assert log.index("no validation data") < log.index("step 2/2")
    assert result.step == 2 and result.final_scores == {} and not (tmp_path / "run" / "best").exists()


def test_demo_preset_stage1_with_one_teacher_plugin(tmp_path):
    """`--preset demo --stage 1` trains and ends with its summary (it used to fail there on the
    'distill' scores, exit 1); `--teachers dinov2` replaces the preset's teachers, so clip and sam
    need not be installed (here: not loaded)."""
    if "dinov2" not in list_teachers():
        pytest.skip("the dinov2 teacher plugin is not installed")
    run = tmp_path / "demo1"
    r = run_sak("train", "--preset", "demo", "--stage", "1", "--teachers", "dinov2", "--iterations", "2",
                "--out", str(run), "data.options.count=16", "data.val_limit=4",
                env={"SAK_LOAD_PLUGINS": "sak-teacher-dinov2", "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "error" not in r.stderr and "teachers dinov2, tasks none" in r.stdout
    assert "dinov2/centred_cosine ↑" in r.stdout and "dinov2/cosine ↑" in r.stdout
    assert "on every teacher (centred cosine)" in r.stdout
    plugins = json.loads((run / "plugins.json").read_text())
    assert [p["name"] for p in plugins if p["kind"] == "teacher"] == ["dinov2"]

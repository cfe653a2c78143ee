"""The example third-party plugins install with pip, pass their own tests, and train with the
built-in plugins in one command, with no change to sak-core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sak_test_utils import run_sak

EXAMPLES = Path(__file__).parents[1] / "examples"
PLUGINS = ("sak-task-fg-distance", "sak-teacher-convnext", "sak-teacher-imagestats")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site = tmp_path_factory.mktemp("examples") / "site"
    for name in PLUGINS:
        build = tmp_path_factory.mktemp(name)  # keep build droppings out of the checkout
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
             "--target", str(site), str(EXAMPLES / name)],
            check=True, capture_output=True, text=True, timeout=300, cwd=build,
        )
    return site


@pytest.mark.parametrize("name", PLUGINS)
def test_example_plugin_tests_pass(site, name):
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(EXAMPLES / name),
         str(EXAMPLES / name / "tests")],
        capture_output=True, text=True, env=env, timeout=600, cwd=EXAMPLES / name,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_plugins_register_without_loading_torch(site):
    """Their entry modules only describe the plugin (``lazy`` names the code), so `sak plugins`
    and `sak --help` stay light with them installed."""
    code = ("import sys, sak_task_fg_distance, sak_teacher_convnext, sak_teacher_imagestats; "
            "from sak_core.plugin.lookup import list_tasks, list_teachers; "
            "assert 'fg_distance' in list_tasks() and 'imagestats' in list_teachers(); print(sorted(m for m in ('torch', 'timm', 'scipy') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_examples_train_with_builtin_plugins(site, tmp_path):
    run = tmp_path / "run"
    result = run_sak(
        "train", "--preset", "demo", "--tasks", "semseg,saliency,fg_distance", "--iterations", "2", "--out", str(run),
        "model.aligners=true", "data.val_limit=4",
        'teachers=[{name: dinov2, weights: random, options: {size: small, arch: {embed_dim: 64, depth: 4, num_heads: 2}}}, '
        '{name: convnext, weights: random, options: {variant: convnext_atto, arch: {dims: [8, 16, 24, 32], depths: [1, 1, 1, 1]}}}]',
        site=site, env={"OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    plugins = json.loads((run / "plugins.json").read_text())
    names = {(p.get("kind"), p.get("name")): p.get("distribution") for p in plugins}
    assert names[("task", "fg_distance")] == "sak-task-fg-distance"
    assert names[("teacher", "convnext")] == "sak-teacher-convnext"
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("fg_distance/mae" in m for m in metrics)


def test_a_teacher_that_is_not_a_model_trains_the_demo(site, tmp_path):
    """The imagestats example (a fixed function of the image, no weights) replaces the demo's
    teachers with the guide's own command; its precision is the one it declares."""
    run = tmp_path / "run"
    result = run_sak("train", "--preset", "demo", "--teachers", "imagestats", "--iterations", "2", "--out", str(run),
                     "data.val_limit=4", "optim.teacher_precision=bf16", site=site, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "teachers imagestats" in result.stdout and "teachers bf16 (asked for)" in result.stdout
    plugins = json.loads((run / "plugins.json").read_text())
    assert {(p.get("kind"), p.get("name")): p.get("distribution") for p in plugins}[("teacher", "imagestats")] == (
        "sak-teacher-imagestats")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any(m.get("step") == 2 and "loss/distill" in m for m in metrics), metrics[-3:]


def test_predict_image_script(tmp_path):
    """examples/predict_image.py loads a run and writes one rendering per task at image size."""
    import numpy as np
    from PIL import Image

    import sak_core
    from sak_core.config import RunConfig
    from sak_core.run.layout import write_resolved

    run = tmp_path / "run"
    student = sak_core.create_student(sak_core.StudentConfig(
        stem_overrides=dict(embed_dim=32, depth=4, num_heads=2), input_size=(64, 64),
        teachers={"t": 32}, tasks={"semseg": 6, "depth": 1},
    ))
    sak_core.save_student(student, run / "model.safetensors")
    write_resolved(run, RunConfig.model_validate({"data": {"dataset": "synthetic"}}), [])
    image = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8)).save(image)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "predict_image.py"), str(run), str(image), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    for task in ("semseg", "depth"):
        rendering = Image.open(tmp_path / "out" / f"photo_{task}.png")
        assert rendering.size == (70, 50) and rendering.mode == "RGB"
    assert "semseg: (50, 70)" in result.stdout

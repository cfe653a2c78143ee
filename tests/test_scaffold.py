"""`sak new` writes plugin distributions that pip installs and sak loads."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sak_core.errors import SakError
from sak_core.scaffold import scaffold
from sak_test_utils import run_sak


def pip_install(source, site):
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(source)],
        check=True, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    root = tmp_path_factory.mktemp("scaffold")
    site = root / "site"
    made = {}
    for kind, name in (("task", "grey_level"), ("teacher", "mini_vit")):
        result = run_sak("new", kind, name, "--dir", str(root))
        assert result.returncode == 0, result.stderr
        made[kind] = root / f"sak-{kind}-{name.replace('_', '-')}"
        made[f"{kind} files"] = sorted(p.relative_to(made[kind]).as_posix() for p in made[kind].rglob("*") if p.is_file())
        pip_install(made[kind], site)
    return made, site


def test_scaffolded_files(installed):
    made, _ = installed
    task = made["task"]
    assert made["task files"] == [
        "README.md", "pyproject.toml", "sak_task_grey_level/__init__.py", "sak_task_grey_level/task.py",
        "tests/test_grey_level.py",
    ]
    assert '[project.entry-points."sak.tasks"]\ngrey_level = "sak_task_grey_level"' in (task / "pyproject.toml").read_text()
    assert "class GreyLevelTask(Task)" in (task / "sak_task_grey_level" / "task.py").read_text()
    entry = (task / "sak_task_grey_level" / "__init__.py").read_text()
    assert 'factory=lazy("sak_task_grey_level.task:GreyLevelTask")' in entry and "import torch" not in entry


def test_installed_plugins_are_listed(installed):
    _, site = installed
    result = run_sak("plugins", "--json", site=site)
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)["plugins"]}
    assert rows[("task", "grey_level")]["distribution"] == "sak-task-grey-level"
    assert rows[("teacher", "mini_vit")]["version"] == "0.1.0"


@pytest.mark.parametrize("kind", ["task", "teacher"])
def test_generated_tests_pass(installed, kind):
    made, site = installed
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(made[kind]), str(made[kind] / "tests")],
        capture_output=True, text=True, env=env, timeout=300, cwd=made[kind],
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout


TINY_VIT = "{arch: {embed_dim: 32, depth: 2, num_heads: 2}}"


def said(result) -> str:
    """What a command printed, with the console's line wrapping undone."""
    return " ".join((result.stdout + result.stderr).split())


def train_scaffolded(site, out, teacher: str, *args, env=None):
    return run_sak(
        "train", "--preset", "demo", "--tasks", "semseg,grey_level", "--out", str(out), "model.aligners=true",
        "data.val_limit=2", f"teachers=[{teacher}]", *args, site=site, env={"OMP_NUM_THREADS": "1", "COLUMNS": "500", **(env or {})},
    )


def test_scaffolded_teacher_follows_the_conventions_in_sak_train(installed, tmp_path):
    """Misspelt options are refused, $SAK_WEIGHTS is honoured, random weights are announced."""
    _, site = installed
    bad = train_scaffolded(site, tmp_path / "bad", "{name: mini_vit, weights: random, options: {arhc: {depth: 2}}}",
                           "--iterations", "1")
    assert bad.returncode != 0 and "('arhc': did you mean 'arch'?)" in said(bad)

    random = train_scaffolded(site, tmp_path / "random", f"{{name: mini_vit, weights: random, options: {TINY_VIT}}}",
                              "--iterations", "1")
    assert random.returncode == 0, random.stderr[-3000:]
    assert "RandomWeightsWarning: teacher 'mini_vit' uses random weights" in said(random)

    # Offline, with the file the spec names in $SAK_WEIGHTS: that file is the only way to train.
    import timm
    from safetensors.torch import save_file

    folder = tmp_path / "weights"
    folder.mkdir()
    model = timm.create_model("vit_small_patch16_224", embed_dim=32, depth=2, num_heads=2, dynamic_img_size=True)
    save_file(model.state_dict(), str(folder / "vit_small_patch16_224.augreg_in21k_ft_in1k.safetensors"))
    env = {"SAK_WEIGHTS": str(folder), "HF_HUB_OFFLINE": "1"}
    run = tmp_path / "run"
    found = train_scaffolded(site, run, f"{{name: mini_vit, options: {TINY_VIT}}}", "--iterations", "2", env=env)
    assert found.returncode == 0, found.stdout[-3000:] + found.stderr[-3000:]
    assert "RandomWeightsWarning" not in found.stderr
    (folder / "vit_small_patch16_224.augreg_in21k_ft_in1k.safetensors").unlink()
    missing = train_scaffolded(site, tmp_path / "missing", f"{{name: mini_vit, options: {TINY_VIT}}}",
                               "--iterations", "1", env=env)
    assert missing.returncode != 0 and "no weights for teacher 'mini_vit'" in said(missing)
    assert str(folder / "vit_small_patch16_224.augreg_in21k_ft_in1k.safetensors") in said(missing)

    # sak predict gives the scaffolded task its own folder: OUT/grey_level/<image>.npy
    predicted = run_sak("predict", str(run), "--out", str(tmp_path / "pred"), "--limit", "2", "--no-grid", site=site)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert len(list((tmp_path / "pred" / "grey_level").glob("*.npy"))) == 2


def test_bad_names_and_existing_folders_are_refused(tmp_path):
    with pytest.raises(SakError, match="must start with a lowercase letter"):
        scaffold("task", "Bad-Name", tmp_path)
    scaffold("task", "ok", tmp_path)
    with pytest.raises(SakError, match="already exists"):
        scaffold("task", "ok", tmp_path)
    with pytest.raises(SakError, match="choose one of task, teacher"):
        scaffold("dataset", "x", tmp_path)
    (tmp_path / "notes").write_text("x")
    with pytest.raises(SakError, match="notes is a file, not a folder"):
        scaffold("task", "fine", tmp_path / "notes" / "sub")


@pytest.mark.parametrize("kind, name", [("task", "semseg"), ("teacher", "dinov2")])
def test_a_name_an_installed_plugin_holds_is_refused(tmp_path, kind, name):
    with pytest.raises(SakError, match=f"{kind} '{name}' is already provided by the installed distribution "
                                       f"'sak-{kind}-{name}'.*choose another name"):
        scaffold(kind, name, tmp_path)
    assert list(tmp_path.iterdir()) == []

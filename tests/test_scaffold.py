"""`sak new` writes plugin distributions that pip installs and sak loads."""

from __future__ import annotations

import json
import os
import re
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
    for key, kind, name, more in (("task", "task", "grey_level", ()), ("teacher", "teacher", "mini_vit", ()),
                                  ("module teacher", "teacher", "plain_enc", ("--kind", "module"))):
        result = run_sak("new", kind, name, *more, "--dir", str(root))
        assert result.returncode == 0, result.stderr
        made[key] = root / f"sak-{kind}-{name.replace('_', '-')}"
        made[f"{key} files"] = sorted(p.relative_to(made[key]).as_posix() for p in made[key].rglob("*") if p.is_file())
        pip_install(made[key], site)
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


def test_the_module_teacher_depends_on_sak_core_alone(installed):
    made, _ = installed
    assert made["module teacher files"] == [
        "README.md", "pyproject.toml", "sak_teacher_plain_enc/__init__.py", "sak_teacher_plain_enc/teacher.py",
        "tests/test_plain_enc.py",
    ]
    folder = made["module teacher"]
    assert 'dependencies = ["sak-core"]\n' in (folder / "pyproject.toml").read_text()
    code = "\n".join(p.read_text() for p in sorted(folder.rglob("*.py")))
    assert not re.search(r"^\s*(import|from) timm", code, re.M) and "SAK_API = " in code
    assert "class PlainEncTeacher(Teacher)" in (folder / "sak_teacher_plain_enc" / "teacher.py").read_text()


def test_the_module_teacher_runs_without_timm(installed):
    """Built, given random weights and run with timm unimportable."""
    _, site = installed
    code = (
        "import sys, warnings; sys.modules['timm'] = None\n"  # `import timm` raises ImportError
        "import torch\n"
        "from sak_core.plugin import create_teacher\n"
        "warnings.simplefilter('ignore')\n"
        "t = create_teacher('plain_enc', weights='random', arch={'width': 8, 'levels': 2, 'patch': 8})\n"
        "out = t.place('cpu', 'bf16')(torch.zeros(1, 3, 32, 48))\n"
        "print([tuple(f.shape) for f in out.features], out.features[0].dtype)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(site)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[(1, 8, 4, 6), (1, 8, 4, 6)] torch.float32"


def test_installed_plugins_are_listed(installed):
    _, site = installed
    result = run_sak("plugins", "--json", site=site)
    assert result.returncode == 0, result.stderr
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)["plugins"]}
    assert rows[("task", "grey_level")]["distribution"] == "sak-task-grey-level"
    assert rows[("teacher", "mini_vit")]["version"] == "0.1.0"
    assert rows[("teacher", "plain_enc")]["distribution"] == "sak-teacher-plain-enc"


@pytest.mark.parametrize("kind", ["task", "teacher", "module teacher"])
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


def test_the_module_teacher_trains_the_demo_alone(installed, tmp_path):
    """The scaffolded module teacher (64 wide, four levels: the demo student's stem and taps) is
    the run's only teacher; a misspelt arch key and an unknown variant are one error line each."""
    _, site = installed
    env = {"OMP_NUM_THREADS": "1", "COLUMNS": "500"}
    done = run_sak("train", "--preset", "demo", "--teachers", "plain_enc", "--teacher-weights", "plain_enc=random",
                   "--tasks", "semseg", "--iterations", "2", "--out", str(tmp_path / "run"), "data.val_limit=2",
                   site=site, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "RandomWeightsWarning: teacher 'plain_enc' uses random weights" in said(done)
    bad = train_scaffolded(site, tmp_path / "bad", "{name: plain_enc, weights: random, options: {arch: {widht: 8}}}",
                           "--iterations", "1")
    assert bad.returncode != 0 and "('widht': did you mean 'width'?)" in said(bad), said(bad)
    unknown = run_sak("describe", "teacher", "plain_enc:huge", site=site, env=env)
    assert unknown.returncode != 0 and "has no variant 'huge': choose one of base" in said(unknown), said(unknown)


def test_bad_names_and_existing_folders_are_refused(tmp_path):
    with pytest.raises(SakError, match="must start with a lowercase letter"):
        scaffold("task", "Bad-Name", tmp_path)
    scaffold("task", "ok", tmp_path)
    with pytest.raises(SakError, match="already exists"):
        scaffold("task", "ok", tmp_path)
    with pytest.raises(SakError, match="choose one of task, teacher"):
        scaffold("dataset", "x", tmp_path)
    with pytest.raises(SakError, match="no teacher kind 'onnx': choose one of timm, module"):
        scaffold("teacher", "x", tmp_path, teacher_kind="onnx")
    with pytest.raises(SakError, match="a task scaffold has no --kind"):
        scaffold("task", "x", tmp_path, teacher_kind="module")
    (tmp_path / "notes").write_text("x")
    with pytest.raises(SakError, match="notes is a file, not a folder"):
        scaffold("task", "fine", tmp_path / "notes" / "sub")


@pytest.mark.parametrize("kind, name", [("task", "semseg"), ("teacher", "dinov2")])
def test_a_name_an_installed_plugin_holds_is_refused(tmp_path, kind, name):
    with pytest.raises(SakError, match=f"{kind} '{name}' is already provided by the installed distribution "
                                       f"'sak-{kind}-{name}'.*choose another name"):
        scaffold(kind, name, tmp_path)
    assert list(tmp_path.iterdir()) == []

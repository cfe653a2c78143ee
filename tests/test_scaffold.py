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
        "README.md", "pyproject.toml", "sak_task_grey_level/__init__.py", "tests/test_grey_level.py",
    ]
    assert '[project.entry-points."sak.tasks"]\ngrey_level = "sak_task_grey_level"' in (task / "pyproject.toml").read_text()
    assert "class GreyLevelTask(Task)" in (task / "sak_task_grey_level" / "__init__.py").read_text()


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


def test_bad_names_and_existing_folders_are_refused(tmp_path):
    with pytest.raises(SakError, match="must start with a lowercase letter"):
        scaffold("task", "Bad-Name", tmp_path)
    scaffold("task", "ok", tmp_path)
    with pytest.raises(SakError, match="already exists"):
        scaffold("task", "ok", tmp_path)
    with pytest.raises(SakError, match="choose one of task, teacher"):
        scaffold("dataset", "x", tmp_path)

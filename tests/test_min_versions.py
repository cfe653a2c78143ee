"""`./dev test-min`: the plugin, export, TensorBoard and floors tests pass with every dependency
installed at the floor its pyproject.toml states (a fresh venv; downloads; several minutes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_floors_pass_the_plugin_tests(tmp_path):
    env = {**os.environ, "SAK_VENV": sys.prefix, "SAK_MIN_VENV": str(tmp_path / "venv-min")}
    done = subprocess.run([str(ROOT / "dev"), "test-min"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=3600)
    assert done.returncode == 0, f"{done.stdout[-5000:]}\n{done.stderr[-3000:]}"
    assert " passed" in done.stdout and "test_the_floors_are_what_is_installed" not in done.stdout

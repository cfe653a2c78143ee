"""The docs' shell blocks marked `sh runnable` are executed, in order, per page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "```sh runnable" in p.read_text())


def runnable_blocks(page: Path) -> list[str]:
    return re.findall(r"```sh runnable\n(.*?)```", page.read_text(), flags=re.S)


def make_shell_env(root: Path) -> dict[str, str]:
    """A throwaway venv layered over the test interpreter's packages, so `pip install -e` in a
    doc installs there and nowhere else; `sak`, `pip` and `pytest` resolve to it."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    parent_site = sysconfig.get_paths()["purelib"]
    (site / "_sak_parent_env.pth").write_text(f"import site; site.addsitedir({parent_site!r})\n")
    python = venv / "bin" / "python"
    shims = {
        "sak": f"#!{python}\nimport sys\nfrom sak_core.cli.main import console_main\nsys.exit(console_main())\n",
        "pip": f"#!/bin/sh\nexec {python} -m pip \"$@\"\n",
        "pytest": f"#!/bin/sh\nexec {python} -m pytest \"$@\"\n",
    }
    for name, text in shims.items():
        (venv / "bin" / name).write_text(text)
        (venv / "bin" / name).chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
        "PIP_NO_BUILD_ISOLATION": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONPATH": "",
    }


def export_unavailable(blocks: list[str]) -> str | None:
    """Why blocks that run `sak export` cannot run here (an older torch, or no onnx packages), or None."""
    if not any("sak export" in block for block in blocks):
        return None
    import importlib.util

    import torch
    from sak_core.convert.onnx import MIN_TORCH

    if torch.__version__ < MIN_TORCH:
        return f"sak export needs torch >= {MIN_TORCH}, this is {torch.__version__}"
    missing = [m for m in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(m) is None]
    return f"sak export needs {', '.join(missing)}" if missing else None


def test_some_pages_have_runnable_blocks():
    assert {p.name for p in PAGES} >= {"task.md", "teacher.md"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_runnable_blocks(page, tmp_path):
    reason = export_unavailable(runnable_blocks(page))
    if reason:
        pytest.skip(reason)
    env = make_shell_env(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    for number, block in enumerate(runnable_blocks(page), start=1):
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block], cwd=work, env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, (
            f"{page.name} block {number} failed:\n{block}\n--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-3000:]}"
        )

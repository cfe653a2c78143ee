"""The README's Python example runs and prints what it says."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_python_example_runs(capsys):
    (block,) = python_blocks(README.read_text())
    exec(compile(block, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "'semseg': (1, 21, 64, 64)" in out and "'normals': (1, 3, 64, 64)" in out
    assert "'dinov2': [(1, 384, 4, 4), (1, 384, 4, 4), (1, 384, 4, 4), (1, 384, 4, 4)]" in out


def test_readme_test_command_is_what_ci_runs():
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert "./dev test" in README.read_text()
    assert re.search(r"^exec \./dev test$", ci, flags=re.M)

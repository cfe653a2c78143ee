"""Plugins import only the plugin contract: ``sak_core.plugin`` in their code and
``sak_core.testing`` in their tests, in the built-in plugins, the examples and both scaffolds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import sak_core

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = Path(sak_core.__file__).parent / "scaffold" / "templates"
ALLOWED = {"plugin", "testing"}
# `from sak_core.X import`, `import sak_core.X`, `from sak_core import X` (X a module or a name)
IMPORT = re.compile(r"^\s*(?:from\s+sak_core\.(\w+)|import\s+sak_core\.(\w+)|from\s+sak_core\s+import\s+(.+)).*", re.M)
# files a build leaves beside the sources (ignored by git) are not the plugin's sources
SKIPPED = {"build", "__pycache__", ".pytest_cache", ".hypothesis"}


def outside_the_contract(text: str) -> list[str]:
    """The imports of ``text`` that reach into sak_core past ``sak_core.plugin`` / ``sak_core.testing``."""
    found = []
    for match in IMPORT.finditer(text):
        module = match.group(1) or match.group(2)
        if module is not None:
            if module not in ALLOWED:
                found.append(match.group(0).strip())
            continue
        names = {n.strip().split(" as ")[0] for n in match.group(3).strip("()\\ ").split(",")}
        if not names <= ALLOWED:  # `from sak_core import load_student` is the user API, not a plugin's
            found.append(match.group(0).strip())
    return found


def plugin_sources() -> list[Path]:
    roots = [*sorted((REPO / "plugins").glob("*/*")), *sorted((REPO / "examples").glob("sak-*")), TEMPLATES]
    files = []
    for root in roots:
        files += [p for p in root.rglob("*") if p.is_file() and p.name.endswith((".py", ".py.tmpl"))
                  and not SKIPPED & set(p.relative_to(root).parts) and not p.parent.name.endswith(".egg-info")]
    return sorted(files)


def test_the_sources_are_found():
    files = {p.relative_to(REPO).as_posix() for p in plugin_sources() if REPO in p.parents}
    assert "plugins/teachers/dinov2/sak_teacher_dinov2/__init__.py" in files
    assert "plugins/tasks/depth/tests/test_depth.py" in files
    assert "examples/sak-teacher-imagestats/sak_teacher_imagestats/teacher.py" in files
    templates = {p.relative_to(TEMPLATES).as_posix() for p in plugin_sources() if TEMPLATES in p.parents}
    assert {"teacher/$package/__init__.py.tmpl", "task/tests/test_${name}.py.tmpl"} <= templates


@pytest.mark.parametrize("text, bad", [
    ("from sak_core.plugin import Task, hookimpl\nfrom sak_core.testing import check_task\n", []),
    ("import sak_core.plugin\n", []),
    ("from sak_core import plugin, testing\n", []),
    ("from sak_core.plugins import get_registry\n", ["from sak_core.plugins import get_registry"]),
    ("    from sak_core.errors import TargetError\n", ["from sak_core.errors import TargetError"]),
    ("import sak_core.weights as w\n", ["import sak_core.weights as w"]),
    ("from sak_core import teachers\n", ["from sak_core import teachers"]),
    ('"""The mechanism is :mod:`sak_core.weight_layouts`."""\n', []),  # prose, not an import
])
def test_the_pattern(text, bad):
    assert outside_the_contract(text) == bad


def test_plugins_examples_and_scaffolds_import_only_the_contract():
    hits = [f"{p}: {line}" for p in plugin_sources() for line in outside_the_contract(p.read_text())]
    assert not hits, "import these through sak_core.plugin (code) or sak_core.testing (tests):\n" + "\n".join(hits)

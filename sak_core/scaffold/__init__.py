"""`sak new`: scaffold a complete plugin distribution from the templates beside this file."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from sak_core.errors import SakError
from sak_core.runtime.files import check_output

TEMPLATES = Path(__file__).parent / "templates"
KINDS = ("task", "teacher")
# teacher kind -> its templates: a timm model built by sak's shared recipe builder, or a plain
# torch module / function of the image wrapped in the teacher contract (no timm)
TEACHER_KINDS = {"timm": "teacher", "module": "teacher-module"}


def scaffold(kind: str, name: str, parent: str | Path = ".", teacher_kind: str | None = None) -> Path:
    """Write plugin distribution ``sak-<kind>-<name>`` into ``parent``; returns its folder.

    ``teacher_kind`` (teachers only, one of :data:`TEACHER_KINDS`, default ``"timm"``) chooses
    what the teacher is: a timm model, or a plain module that does not depend on timm.
    """
    if kind not in KINDS:
        raise SakError(f"cannot scaffold a '{kind}': choose one of {', '.join(KINDS)}")
    if teacher_kind is not None and kind != "teacher":
        raise SakError(f"--kind {teacher_kind} chooses a kind of teacher; a {kind} scaffold has no --kind: leave it out")
    teacher_kind = teacher_kind or "timm"
    if teacher_kind not in TEACHER_KINDS:
        raise SakError(f"no teacher kind '{teacher_kind}': choose one of {', '.join(TEACHER_KINDS)}")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise SakError(
            f"plugin name '{name}' must start with a lowercase letter and use only a-z, 0-9 and _ "
            "(it becomes a Python package name and the registry name)"
        )
    dist = f"sak-{kind}-{name.replace('_', '-')}"
    package = f"sak_{kind}_{name}"
    _refuse_installed_name(kind, name, dist)
    target = check_output(parent, "--dir", folder=True) / dist
    if target.exists():
        raise SakError(f"{target} already exists: choose another name or remove it")
    values = {"name": name, "dist": dist, "package": package, "class_name": _camel(name)}
    source = TEMPLATES / (TEACHER_KINDS[teacher_kind] if kind == "teacher" else kind)
    for template in sorted(source.rglob("*.tmpl")):
        relative = template.relative_to(source).with_suffix("")
        out = target / Template(str(relative)).substitute(values)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(Template(template.read_text()).substitute(values))
    return target


def _refuse_installed_name(kind: str, name: str, dist: str) -> None:
    """A plugin named like an installed one would replace it on `pip install` (same
    distribution) or conflict with it (same registry name): refuse, naming what holds it."""
    import importlib.metadata

    from sak_core.plugin.registry import get_registry

    entry = get_registry().entries[kind].get(name)
    if entry is not None:
        raise SakError(f"{kind} '{name}' is already provided by the installed distribution '{entry.distribution}': "
                       "a plugin of the same name would conflict with it; choose another name")
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return
    raise SakError(f"a distribution named '{dist}' is already installed: installing the scaffold would replace "
                   "it; choose another name")


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))

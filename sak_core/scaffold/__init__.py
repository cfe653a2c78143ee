"""`sak new`: scaffold a complete plugin distribution from the templates beside this file."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from sak_core.errors import SakError
from sak_core.io import check_output

TEMPLATES = Path(__file__).parent / "templates"
KINDS = ("task", "teacher")


def scaffold(kind: str, name: str, parent: str | Path = ".") -> Path:
    """Write plugin distribution ``sak-<kind>-<name>`` into ``parent``; returns its folder."""
    if kind not in KINDS:
        raise SakError(f"cannot scaffold a '{kind}': choose one of {', '.join(KINDS)}")
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
    source = TEMPLATES / kind
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

    from sak_core.plugins import get_registry

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

"""`sak new`: scaffold a complete plugin distribution from the templates beside this file."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from sak_core.errors import SakError

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
    target = Path(parent) / dist
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


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))

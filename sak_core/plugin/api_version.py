"""The plugin API version and the range a plugin declares it was built for.

A plugin's entry-point module says which versions of :mod:`sak_core.plugin` it works with, next to
its hook implementations::

    SAK_API = ">=1.0,<2"

The registry loads a plugin only when :data:`API_VERSION` is in that range (docs/plugins/api.md).
A range is comma-separated clauses ``OP VERSION`` with ``OP`` one of ``>= > <= < == !=`` and
``VERSION`` dotted integers (``1``, ``1.0``, ``1.2.3``; missing parts count as 0), as in pip's
version specifiers.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

from sak_core.errors import PluginError

API_VERSION = "1.1"
"""The version of the plugin API this sak provides (``MAJOR.MINOR``; see docs/plugins/api.md)."""

API_ATTRIBUTE = "SAK_API"
"""The module-level name a plugin declares its API range under."""

SUGGESTED_RANGE = f">={API_VERSION},<{int(API_VERSION.split('.')[0]) + 1}"
"""The range a plugin built against this sak declares (what ``sak new`` writes)."""

_OPERATORS: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    ">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt,
}
_CLAUSE = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+)*)\s*")


def _version(text: str) -> tuple[int, ...]:
    """``"1.2"`` -> ``(1, 2, 0)``: padded to three parts, so that 1 == 1.0 == 1.0.0."""
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * max(0, 3 - len(parts))


def parse_range(declared: str) -> list[tuple[str, tuple[int, ...]]]:
    """The clauses of a range such as ``">=1.0,<2"``; anything else is a :class:`ValueError`."""
    if not isinstance(declared, str) or not declared.strip():
        raise ValueError(f"{declared!r} is not a version range")
    clauses = []
    for clause in declared.split(","):
        match = _CLAUSE.fullmatch(clause)
        if match is None:
            raise ValueError(f"{declared!r} is not a version range")
        clauses.append((match.group(1), _version(match.group(2))))
    return clauses


def in_range(version: str, declared: str) -> bool:
    """Whether ``version`` (e.g. :data:`API_VERSION`) satisfies every clause of ``declared``."""
    wanted = _version(version)
    return all(_OPERATORS[op](wanted, bound) for op, bound in parse_range(declared))


def check_api(plugin: str, module: object, installed: str = API_VERSION) -> str:
    """The range ``module`` declares under ``SAK_API``; a :class:`PluginError` naming ``plugin``,
    the range and the ``installed`` API when it declares none, a malformed one or one that
    excludes ``installed``."""
    declared = getattr(module, API_ATTRIBUTE, None)
    example = f'{API_ATTRIBUTE} = "{SUGGESTED_RANGE}"'
    if declared is None:
        raise PluginError(
            f"plugin '{plugin}' declares no plugin API range; the installed sak provides plugin API "
            f"{installed}: add `{example}` next to its hook implementations (docs/plugins/api.md)"
        )
    try:
        fits = in_range(installed, declared)
    except ValueError:
        raise PluginError(
            f"plugin '{plugin}' declares {API_ATTRIBUTE} = {declared!r}, which is not a version range; "
            f"write it like `{example}` (docs/plugins/api.md)"
        ) from None
    if not fits:
        raise PluginError(
            f"plugin '{plugin}' was built for plugin API {declared} but the installed sak provides "
            f"plugin API {installed}: install a version of '{plugin}' built for {installed}, or a sak "
            f"whose plugin API is in {declared}"
        )
    return declared

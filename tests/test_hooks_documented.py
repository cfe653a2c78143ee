"""Every hook sak defines is documented in docs/plugins and exercised by a test."""

from __future__ import annotations

from pathlib import Path

import pytest

from sak_core.plugin import hookspecs

ROOT = Path(__file__).parents[1]
HOOKS = sorted(name for name in dir(hookspecs) if name.startswith("sak_register_"))


def test_there_are_hooks():
    assert HOOKS == ["sak_register_datasets", "sak_register_tasks", "sak_register_teachers"]


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook):
    docs = "".join(p.read_text() for p in (ROOT / "docs" / "plugins").glob("*.md"))
    assert f"{hook}(register)" in docs
    assert getattr(hookspecs, hook).__doc__.strip()


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_tested(hook):
    fixtures = (ROOT / "tests" / "fixtures" / "sak_toy_plugin" / "__init__.py").read_text()
    assert f"def {hook}(register)" in fixtures

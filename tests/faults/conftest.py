"""Fault-injection fixtures: the toy plugin installed as a distribution, and toy run configs on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sak_core.config import deep_merge
from sak_test_utils import TOY_RUN, write_distribution

@pytest.fixture
def toy_site(tmp_path):
    """A site folder in which the toy plugin is an installed distribution (put it on PYTHONPATH)."""
    site = tmp_path / "site"
    write_distribution(site, "sak-toy-plugin", "0.1.0", {"sak.teachers": {"toy": "sak_toy_plugin"}})
    return site


@pytest.fixture
def toy_yaml(tmp_path):
    """``toy_yaml(**sections)``: the toy run config with sections merged in, written to a file."""

    def write(**changes) -> Path:
        path = tmp_path / "toy.yaml"
        path.write_text(yaml.safe_dump(deep_merge(TOY_RUN, changes)))
        return path

    return write

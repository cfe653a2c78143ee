"""Shared fixtures: the toy plugin registered in memory, the tiny toy run config."""

from __future__ import annotations

import pytest

import sak_toy_plugin
from sak_core.config import build_config, deep_merge
from sak_core.plugin.registry import temporary_plugin
from sak_test_utils import TOY_RUN


@pytest.fixture
def toy_plugins():
    """The toy teachers (toy_a 64 wide, toy_b 32 wide), tasks and dataset, registered in memory."""
    with temporary_plugin(sak_toy_plugin, distribution="sak-toy-plugin"):
        yield sak_toy_plugin


@pytest.fixture
def toy_config(toy_plugins):
    """``toy_config(**sections)``: the tiny toy run with sections merged in (toy plugins loaded)."""

    def make(**changes):
        return build_config(deep_merge(TOY_RUN, changes))

    return make

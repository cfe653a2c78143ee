"""Shared fixtures: the toy plugin registered in memory, and fake installed distributions."""

from __future__ import annotations

import pytest

import sak_toy_plugin
from sak_core.plugins import temporary_plugin


@pytest.fixture
def toy_plugins():
    """The toy teachers (toy_a 64 wide, toy_b 32 wide), tasks and dataset, registered in memory."""
    with temporary_plugin(sak_toy_plugin, distribution="sak-toy-plugin"):
        yield sak_toy_plugin

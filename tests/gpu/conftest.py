"""The GPU tests (marker ``gpu``): collected everywhere, skipped where torch sees no GPU. ``./dev
gpu-check`` runs them, then the paper-size benchmark, on a machine with one."""

from __future__ import annotations

import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run ./dev gpu-check on a machine with one)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)

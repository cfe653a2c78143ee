"""Small synthesized dataset trees shared by the dataset tests (written once per session)."""

from __future__ import annotations

import pytest

from sak_core.datasets.synthetic.layouts import write_layout

SIZE = (48, 64)
COUNT = 6
SEED = 7


@pytest.fixture(scope="session")
def trees(tmp_path_factory):
    """``{layout: root}`` for native, nyud and pascal-context, the same scenes in each."""
    base = tmp_path_factory.mktemp("synth")
    return {layout: write_layout(base / layout, layout, COUNT, SIZE, seed=SEED, val_fraction=0.34)
            for layout in ("native", "nyud", "pascal-context")}


@pytest.fixture(autouse=True)
def _no_data_env(monkeypatch, tmp_path):
    """Tests never see the developer's data root or cache."""
    monkeypatch.delenv("SAK_DATA", raising=False)
    monkeypatch.setenv("SAK_CACHE", str(tmp_path / "cache"))

"""Tiny toy runs shared by the training tests."""

from __future__ import annotations

import pytest

from sak_core.config import build_config, deep_merge

TOY_RUN = {
    "stage": 2,
    "teachers": [{"name": "toy_a"}, {"name": "toy_b"}],
    "tasks": "all",
    "model": {"stem": "vit_small", "stem_overrides": {"embed_dim": 32, "depth": 4, "num_heads": 2},
              "aligners": True},
    "data": {"dataset": "toy", "input_size": [32, 32], "batch_size": 2, "workers": 0, "val_split": "train",
             "val_limit": 4},
    "optim": {"iterations": 6, "lr": 1e-3, "schedule": "cosine", "warmup_iters": 2},
    "output": {"checkpoint_every": 3, "val_every": 100, "log_every": 1, "tensorboard": False},
}


@pytest.fixture
def toy_config(toy_plugins):
    """``toy_config(**sections)``: the tiny toy run with sections merged in (toy plugins loaded)."""

    def make(**changes):
        return build_config(deep_merge(TOY_RUN, changes))

    return make

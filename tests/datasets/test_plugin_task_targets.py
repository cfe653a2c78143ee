"""A plugin task's own targets pass through the dense transforms: integer arrays as class ids
(nearest, padded with the ignore value), float arrays as maps (padded with 0)."""

from __future__ import annotations

import numpy as np
import torch

from sak_core.datasets.transforms import DenseTransform, to_sample
from sak_core.plugin import IGNORE_INDEX


def _raw(h: int = 20, w: int = 30) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "image": rng.uniform(0, 255, (h, w, 3)).astype(np.float32),
        "shadow": (rng.random((h, w)) > 0.5).astype(np.uint8),  # a new task's class ids
        "albedo": rng.random((h, w, 3)).astype(np.float32),  # a new task's 3-channel map
        "semseg": rng.integers(0, 5, (h, w)).astype(np.uint8),
    }


def test_test_time_padding_keeps_the_values_and_fills_by_kind():
    raw = _raw()
    sample, box = DenseTransform((32, 32), train=False)(raw, np.random.default_rng(0))
    out = to_sample(sample, "a", box)
    top, left, h, w = box
    assert out["shadow"].dtype == torch.int64 and out["shadow"].shape == (32, 32)
    assert out["albedo"].dtype == torch.float32 and out["albedo"].shape == (3, 32, 32)
    inside = (slice(top, top + h), slice(left, left + w))
    assert torch.equal(out["shadow"][inside], torch.from_numpy(raw["shadow"].astype(np.int64)))
    assert torch.equal(out["albedo"][(slice(None), *inside)], torch.from_numpy(raw["albedo"]).permute(2, 0, 1))
    outside = torch.ones(32, 32, dtype=torch.bool)
    outside[inside] = False
    assert bool((out["shadow"][outside] == IGNORE_INDEX).all()) and bool((out["albedo"][:, outside] == 0).all())


def test_training_augmentation_keeps_class_ids_and_map_shapes():
    sample, box = DenseTransform((16, 16), train=True)(_raw(), np.random.default_rng(3))
    out = to_sample(sample, "a", box)
    assert out["shadow"].shape == (16, 16) and out["albedo"].shape == (3, 16, 16)
    assert set(out["shadow"].unique().tolist()) <= {0, 1, IGNORE_INDEX}  # nearest: no blended ids
    assert out["semseg"].shape == out["shadow"].shape

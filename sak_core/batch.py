"""Collating samples into batches: tensors stacked, ``meta`` kept as one dict per sample."""

from __future__ import annotations

from typing import Any

import torch


def collate_samples(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the tensors of samples; ``meta`` becomes a list with one dict per sample."""
    batch: dict[str, Any] = {"meta": [s.get("meta", {}) for s in samples]}
    for key in samples[0]:
        if key == "meta":
            continue
        batch[key] = torch.stack([torch.as_tensor(s[key]) for s in samples])
    return batch

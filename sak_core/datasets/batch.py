"""Collating samples into batches: tensors stacked, ``meta`` kept as one dict per sample; naming a
batch's samples in errors."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from sak_core.errors import SakError
from sak_core.plugin.specs import LABEL_MASK


def collate_samples(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack the tensors of samples; ``meta`` becomes a list with one dict per sample.

    A key that some samples lack (a partially labelled task, docs/datasets.md#mixing) is stacked
    with zeros in their place, and ``batch["label_mask"][key]`` (a ``B`` bool tensor) says which
    samples have it; a key every sample has gets no mask.
    """
    batch: dict[str, Any] = {"meta": [s.get("meta", {}) for s in samples]}
    keys: list[str] = []
    for sample in samples:
        keys += [k for k in sample if k != "meta" and k not in keys]
    masks: dict[str, torch.Tensor] = {}
    for key in keys:
        present = [key in s for s in samples]
        if all(present):
            batch[key] = torch.stack([torch.as_tensor(s[key]) for s in samples])
            continue
        like = torch.as_tensor(next(s[key] for s in samples if key in s))
        batch[key] = torch.stack([torch.as_tensor(s[key]) if key in s else torch.zeros_like(like) for s in samples])
        masks[key] = torch.tensor(present)
    if masks:
        batch[LABEL_MASK] = masks
    return batch


def non_finite_error(
    outputs: Mapping[str, torch.Tensor], metas: Sequence[Mapping[str, Any]] | None
) -> SakError | None:
    """The error for raw task outputs (``B x C x H x W`` each) that hold NaN or infinity, naming
    the tasks and the batch's samples (its ``meta``) that do; None when every value is finite.
    A metric would score them silently (argmax of NaN is class 0) or as ``-``."""
    if not outputs:
        return None
    names = list(outputs)
    # tasks x B: one flag per task and image, fetched with one sync
    finite = torch.stack([torch.isfinite(outputs[n].detach()).flatten(1).all(dim=1) for n in names]).cpu()
    if bool(finite.all()):
        return None
    tasks = [n for n, row in zip(names, finite) if not bool(row.all())]
    images = (~finite).any(dim=0).tolist()
    metas = list(metas or [])
    bad = [m for m, hit in zip(metas, images) if hit] if len(metas) == len(images) else []
    return SakError(
        f"the student's outputs are not finite (NaN or infinite) for task(s) {', '.join(tasks)}, "
        f"{sample_ids(bad)}: its weights are broken (a diverged run? score another checkpoint), or a "
        f"reduced precision overflows (try --precision fp32)"
    )


def sample_ids(metas: Sequence[Mapping[str, Any]]) -> str:
    """``"samples a, b, c"`` from a batch's ``meta`` (where the dataset gives ids), for errors."""
    ids = [str(m["id"]) for m in metas if isinstance(m, Mapping) and "id" in m]
    shown = ", ".join(ids[:8]) + (", ..." if len(ids) > 8 else "")
    return f"samples {shown}" if ids else "a batch without sample ids"

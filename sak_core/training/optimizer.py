"""The optimiser: AdamW over the student's trainable parameters."""

from __future__ import annotations

import torch
from torch import nn


def build_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over every parameter that requires a gradient (frozen parts are left out).

    Weight decay applies to every parameter, as in the reference recipe. The fused kernel (CPU and
    CUDA) updates all parameters in one pass, ~4x faster than the per-tensor loop on a ViT-S, and
    is deterministic, so a resumed run stays identical to an uninterrupted one; devices without a
    fused AdamW use the per-tensor loop.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the student has no trainable parameter (is everything frozen?)")
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except RuntimeError:  # no fused kernel for this device or dtype
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, foreach=False)


def clip_gradients(model: nn.Module, max_norm: float | None) -> float | None:
    """Clip the global gradient norm to ``max_norm``; returns the norm before clipping."""
    if max_norm is None:
        return None
    params = [p for p in model.parameters() if p.grad is not None]
    if not params:
        return 0.0
    return float(torch.nn.utils.clip_grad_norm_(params, max_norm))

"""The task: monocular depth in metres (L1 loss, dataset-level RMSE)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sak_core.plugin import (
    IGNORE_INDEX,
    Task,
    check_shapes,
    colour_scalars,
    l1_sum_over_valid,
    to_numpy,
    with_suffix,
    write_npy,
)

__all__ = ["DepthL1Loss", "DepthRMSE", "DepthTask"]

MAX_DEPTH = 80.0


class DepthL1Loss(nn.Module):
    """L1 between prediction and target over pixels whose target is not the ignore value,
    summed and divided by their count."""

    def __init__(self, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == 3:  # B, H, W -> B, 1, H, W
            target = target[:, None]
        return l1_sum_over_valid(outputs, target, self.ignore_index)


class DepthRMSE:
    """Root-mean-square error over every pixel of the split with ``0 < gt < max_depth``.

    Predictions are clamped at >= 0; squared errors and pixel counts are summed over the split and
    one square root is taken at the end (not a mean of per-image RMSEs). The ignore value 255 lies
    above ``max_depth`` and so never counts.
    """

    def __init__(self, max_depth: float = MAX_DEPTH) -> None:
        self.max_depth = max_depth
        self.reset()

    def reset(self) -> None:
        self.squared_error = 0.0
        self.count = 0

    @torch.no_grad()
    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        targets = torch.as_tensor(targets).to(outputs.device).double()
        if targets.dim() == 3:
            targets = targets[:, None]
        check_shapes(outputs, targets)
        valid = (targets > 0) & (targets < self.max_depth)
        error = outputs.double().clamp(min=0.0) - targets
        self.squared_error += float((error[valid] ** 2).sum())
        self.count += int(valid.sum())

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            return {"RMSE": math.nan}
        return {"RMSE": math.sqrt(self.squared_error / self.count)}


class DepthTask(Task):
    """Depth bound to a dataset.

    Target: ``float32 1 x H x W`` metres, 255 where unknown. Dataset option ``max_depth``
    (default 80) bounds the pixels the metric scores. Prediction: depth clamped at >= 0,
    ``B x 1 x H x W``, saved as a float32 ``H x W`` ``.npy``.
    """

    ignore_index = IGNORE_INDEX

    def loss(self) -> nn.Module:
        return DepthL1Loss(self.ignore_index)

    def metric(self, full: bool = False) -> DepthRMSE:
        return DepthRMSE(float(self.options.get("max_depth", MAX_DEPTH)))

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.clamp(min=0.0)

    def save_prediction(self, prediction: torch.Tensor, path: Path) -> Path:
        depth = to_numpy(prediction).astype(np.float32).reshape(prediction.shape[-2:])  # 1 x H x W -> H x W
        return write_npy(depth, with_suffix(path, ".npy"))

    def visualise(self, prediction: torch.Tensor) -> np.ndarray:
        """Depth on a colour ramp scaled to the image's own range; unknown (255) pixels void."""
        depth = to_numpy(prediction).astype(np.float64).reshape(prediction.shape[-2:])  # 1 x H x W -> H x W
        valid = depth != self.ignore_index
        return colour_scalars(depth, valid)

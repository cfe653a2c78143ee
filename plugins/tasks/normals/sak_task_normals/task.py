"""The task: surface normals (L1 on unit predictions, mean angular error in degrees)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sak_core.plugin import (
    IGNORE_INDEX,
    VOID_COLOUR,
    Task,
    check_shapes,
    l1_sum_over_valid,
    to_numpy,
    to_uint8,
    valid_pixels,
    with_suffix,
    write_png,
)

__all__ = ["AngularError", "NormalsTask", "UnitL1Loss"]


def unit_vectors(x: torch.Tensor) -> torch.Tensor:
    """``B x 3 x H x W`` scaled to unit length along dim 1; zero vectors stay zero."""
    return F.normalize(x, p=2, dim=1)


class UnitL1Loss(nn.Module):
    """L1 between the L2-normalised prediction and the target, summed over the three channels of
    valid pixels (no channel equal to the ignore value) and divided by the valid pixel count."""

    def __init__(self, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return l1_sum_over_valid(unit_vectors(outputs.float()), target, self.ignore_index)


class AngularError:
    """Mean angular error in degrees over every valid pixel of the split.

    Prediction and target are L2-normalised; the angle is ``2 * atan2(|p - g|, |p + g|)``
    (stable near 0 and 180 degrees). Also reports the share of pixels within 11.25, 22.5 and
    30 degrees.
    """

    BANDS = (11.25, 22.5, 30.0)

    def __init__(self, ignore_index: int = IGNORE_INDEX) -> None:
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        self.total_degrees = 0.0
        self.count = 0
        self.within = np.zeros(len(self.BANDS), dtype=np.int64)

    @torch.no_grad()
    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        targets = torch.as_tensor(targets).to(outputs.device)
        check_shapes(outputs, targets)
        valid = valid_pixels(targets, self.ignore_index)[:, 0]  # B, H, W
        p = unit_vectors(outputs.double())
        g = unit_vectors(torch.where(valid[:, None], targets.double(), 0.0))
        angle = 2.0 * torch.atan2((p - g).norm(dim=1), (p + g).norm(dim=1))  # B, H, W
        degrees = torch.rad2deg(angle)[valid]
        self.total_degrees += float(degrees.sum())
        self.count += int(degrees.numel())
        for i, band in enumerate(self.BANDS):
            self.within[i] += int((degrees < band).sum())

    def compute(self) -> dict[str, float]:
        if self.count == 0:
            return {"mErr": math.nan, **{f"within_{b:g}": math.nan for b in self.BANDS}}
        scores = {"mErr": self.total_degrees / self.count}
        for band, n in zip(self.BANDS, self.within, strict=True):
            scores[f"within_{band:g}"] = 100.0 * n / self.count
        return scores


class NormalsTask(Task):
    """Surface normals bound to a dataset.

    Target: ``float32 3 x H x W`` unit vectors, 255 in all three channels where unknown.
    Prediction: unit vectors ``B x 3 x H x W``, saved as an RGB PNG of ``(n + 1) / 2 x 255``.
    """

    ignore_index = IGNORE_INDEX

    def loss(self) -> nn.Module:
        return UnitL1Loss(self.ignore_index)

    def metric(self, full: bool = False) -> AngularError:
        return AngularError(self.ignore_index)

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        return unit_vectors(outputs)

    def _rgb(self, prediction: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        normals = to_numpy(prediction).astype(np.float64)  # 3, H, W
        if normals.ndim != 3 or normals.shape[0] != 3:
            raise ValueError(f"one image's normals are 3 x H x W, got {normals.shape}")
        valid = (normals != self.ignore_index).all(axis=0)
        return to_uint8((normals.transpose(1, 2, 0) + 1.0) / 2.0), valid

    def save_prediction(self, prediction: torch.Tensor, path: Path) -> Path:
        rgb, _ = self._rgb(prediction)
        return write_png(rgb, with_suffix(path, ".png"))

    def visualise(self, prediction: torch.Tensor) -> np.ndarray:
        rgb, valid = self._rgb(prediction)
        rgb[~valid] = VOID_COLOUR
        return rgb

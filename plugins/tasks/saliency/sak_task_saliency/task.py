"""The task: saliency (two-class map, class-balanced cross-entropy, maxF over thresholds)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from sak_core.plugin import (
    IGNORE_INDEX,
    Task,
    check_shapes,
    colour_grey,
    count_at_or_above,
    cross_entropy_sum_over_valid,
    f_beta,
    label_map,
    threshold_grid,
    to_numpy,
    to_uint8,
    with_suffix,
    write_png,
)

__all__ = ["BalancedCrossEntropyLoss", "MaxFMeasure", "SaliencyTask"]

BETA_SQ = 0.3


class BalancedCrossEntropyLoss(nn.Module):
    """Two-class cross-entropy with class weights from the batch's label balance.

    Over the valid pixels of the batch, with ``p`` the fraction of positives: background weight
    ``p``, foreground weight ``1 - p`` (the rarer class weighs more). Weighted terms are summed
    and divided by the valid pixel count.
    """

    def __init__(self, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = label_map(target)
        labels = target[target != self.ignore_index]
        if labels.numel() and int(labels.max()) > 1:
            raise ValueError(f"saliency targets are 0, 1 or {self.ignore_index}; got {int(labels.max())}")
        positive_fraction = labels.float().mean() if labels.numel() else outputs.new_tensor(0.5)
        weight = torch.stack([positive_fraction, 1.0 - positive_fraction]).to(outputs.device).float()
        return cross_entropy_sum_over_valid(outputs, target, weight, self.ignore_index)


class MaxFMeasure:
    """Dataset-level maximum F-measure (``beta^2 = 0.3``) of the class-1 softmax probability.

    For each threshold ``t`` of the grid (default 0.05, 0.10, ..., 0.95), pixels with probability
    ``>= t`` are predicted salient; true positives, predicted positives and actual positives are
    summed over the split, F is computed from the sums, and the best threshold's F is reported in
    percent as ``maxF``.
    """

    def __init__(
        self,
        ignore_index: int = IGNORE_INDEX,
        thresholds: np.ndarray | None = None,
        beta_sq: float = BETA_SQ,
    ) -> None:
        self.ignore_index = ignore_index
        self.beta_sq = beta_sq
        self.thresholds = threshold_grid(0.05) if thresholds is None else np.asarray(thresholds, float)
        self.reset()

    def reset(self) -> None:
        n = len(self.thresholds)
        self.true_positives = np.zeros(n, dtype=np.int64)
        self.predicted = np.zeros(n, dtype=np.int64)
        self.actual = 0

    @torch.no_grad()
    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        targets = label_map(torch.as_tensor(targets)).to(outputs.device)
        check_shapes(outputs, targets)
        prob = torch.softmax(outputs.double(), dim=1)[:, 1]  # B, H, W
        valid = targets != self.ignore_index
        positive = valid & (targets == 1)
        grid = torch.as_tensor(self.thresholds, dtype=torch.float64, device=outputs.device)
        self.predicted += count_at_or_above(prob[valid], grid).cpu().numpy()
        self.true_positives += count_at_or_above(prob[positive], grid).cpu().numpy()
        self.actual += int(positive.sum())

    def compute(self) -> dict[str, float]:
        actual = np.full_like(self.true_positives, self.actual)
        f, precision, recall = f_beta(self.true_positives, self.predicted, actual, self.beta_sq)
        best = int(np.argmax(f))
        return {
            "maxF": float(f[best]) * 100.0,
            "threshold": float(self.thresholds[best]),
            "precision": float(precision[best]) * 100.0,
            "recall": float(recall[best]) * 100.0,
        }


class SaliencyTask(Task):
    """Saliency bound to a dataset.

    Target: ``int64 H x W`` in {0, 1}, 255 ignored. Head: 2 channels (background, salient).
    Prediction: the class-1 softmax probability ``B x H x W``, saved as ``prob x 255`` 8-bit PNG.
    """

    ignore_index = IGNORE_INDEX

    def loss(self) -> nn.Module:
        return BalancedCrossEntropyLoss(self.ignore_index)

    def metric(self, full: bool = False) -> MaxFMeasure:
        return MaxFMeasure(self.ignore_index, beta_sq=float(self.options.get("beta_sq", BETA_SQ)))

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(outputs, dim=1)[:, 1]

    def save_prediction(self, prediction: torch.Tensor, path: Path) -> Path:
        values = to_numpy(prediction).reshape(prediction.shape[-2:])  # H x W, even 1 pixel high or wide
        return write_png(to_uint8(values), with_suffix(path, ".png"))

    def visualise(self, prediction: torch.Tensor) -> np.ndarray:
        values = to_numpy(prediction).reshape(prediction.shape[-2:]).astype(np.float64)
        return colour_grey(values, valid=values != self.ignore_index)

"""The fg_distance task's code: target, loss, metric and prediction files (imported when the
task is first built; the package's ``__init__`` names it with ``lazy``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from sak_core.plugin import Task

IGNORE = 255
SCALE = 16.0  # pixels per target unit


def distance_target(batch: dict) -> torch.Tensor:
    """``B x 1 x H x W`` float target from ``batch["saliency"]`` (``B x H x W``, 255 = ignore)."""
    saliency = batch["saliency"]
    out = []
    for labels in saliency.cpu().numpy():
        distance = ndimage.distance_transform_edt(labels == 1) / SCALE
        distance[labels == IGNORE] = IGNORE
        out.append(distance)
    return torch.tensor(np.stack(out), dtype=torch.float32, device=saliency.device)[:, None]


class MaskedL1(nn.Module):
    """L1 over valid pixels divided by their count."""

    def forward(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        valid = targets != IGNORE
        return (outputs - targets).abs()[valid].sum() / valid.sum().clamp(min=1)


class MeanAbsoluteError:
    """Dataset-level mean absolute error over valid pixels."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        valid = targets != IGNORE
        self.total += float((outputs.clamp(min=0) - targets).abs()[valid].sum())
        self.count += int(valid.sum())

    def compute(self) -> dict[str, float]:
        return {"mae": self.total / max(self.count, 1)}


class FgDistanceTask(Task):
    """Foreground distance regression bound to a dataset."""

    def loss(self) -> nn.Module:
        return MaskedL1()

    def metric(self, full: bool = False) -> MeanAbsoluteError:
        return MeanAbsoluteError()

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.clamp(min=0)

    def save_prediction(self, prediction: torch.Tensor, path: Path) -> Path:
        out = Path(path).with_suffix(".npy")
        np.save(out, prediction.squeeze(0).float().cpu().numpy() * SCALE)  # back to pixels
        return out

    def visualise(self, prediction: torch.Tensor) -> np.ndarray:
        x = prediction.squeeze(0).float().cpu().numpy()
        x = np.where(x == IGNORE, 0, x)
        x = np.clip(x / max(float(x.max()), 1e-6), 0, 1)
        # black (background) -> orange -> yellow (deep inside objects)
        return np.stack([x, x**2 * 0.9, x**4 * 0.3], axis=-1).__mul__(255).astype(np.uint8)

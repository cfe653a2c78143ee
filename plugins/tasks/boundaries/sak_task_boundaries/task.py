"""Object boundaries: balanced BCE loss, a fast approximate F for validation, and the odsF hook."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sak_core.plugin import (
    IGNORE_INDEX,
    SakError,
    Task,
    check_shapes,
    colour_grey,
    threshold_grid,
    to_numpy,
    to_uint8,
    with_suffix,
    write_png,
)

POS_WEIGHT = 0.95
MAX_DIST = 0.0075  # of the image diagonal (PASCAL-Context); NYUD-v2 uses 0.011


def _with_channel(target: torch.Tensor) -> torch.Tensor:
    return target[:, None] if target.dim() == 3 else target  # B, H, W -> B, 1, H, W


class BalancedBCELoss(nn.Module):
    """Binary cross-entropy on logits with fixed class weights: ``pos_weight`` for boundary
    pixels, ``1 - pos_weight`` for the rest; summed over valid pixels and divided by their count.
    """

    def __init__(self, pos_weight: float = POS_WEIGHT, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        if not 0.0 < pos_weight < 1.0:
            raise ValueError(f"pos_weight must lie strictly between 0 and 1, got {pos_weight}")
        self.pos_weight = pos_weight
        self.ignore_index = ignore_index

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        target = _with_channel(target)
        check_shapes(outputs, target)
        valid = target != self.ignore_index
        y = torch.where(valid, target.float(), 0.0)
        w = self.pos_weight
        # w * y * -log(s) + (1 - w) * (1 - y) * -log(1 - s), written through BCE's pos_weight
        terms = F.binary_cross_entropy_with_logits(
            outputs.float(), y, pos_weight=outputs.new_tensor(w / (1.0 - w)), reduction="none"
        ) * (1.0 - w)
        return (terms * valid).sum() / valid.sum().clamp(min=1)


def tolerance_pixels(height: int, width: int, max_dist: float) -> int:
    """Matching radius in pixels: ``max_dist`` times the diagonal, rounded, at least 1."""
    return max(1, round(max_dist * math.hypot(height, width)))


class ApproximateBoundaryF:
    """Fast dataset-level boundary F-measure for validation during training (not the odsF).

    For each threshold of the grid (0.05..0.95), ``sigmoid >= t`` gives the predicted boundary
    pixels. A predicted pixel is a hit when a ground-truth boundary pixel lies within ``r`` pixels
    (a (2r+1) x (2r+1) square, by max-pooling); a ground-truth pixel is recalled when a predicted
    pixel lies within ``r``. ``r`` is ``max_dist`` times the image diagonal unless
    ``tolerance_px`` is given. Counts are summed over the split; ``odsF`` is the best F
    (``beta = 1``) over thresholds, in percent. Compared with the protocol's odsF it skips edge
    thinning (NMS) and one-to-one matching, so thick predicted edges count as precise: use it to
    rank checkpoints, report ``metric(full=True)``.
    """

    def __init__(
        self,
        max_dist: float = MAX_DIST,
        tolerance_px: int | None = None,
        ignore_index: int = IGNORE_INDEX,
        thresholds: np.ndarray | None = None,
    ) -> None:
        self.max_dist = max_dist
        self.tolerance_px = tolerance_px
        self.ignore_index = ignore_index
        self.thresholds = threshold_grid(0.05) if thresholds is None else np.asarray(thresholds, float)
        self.reset()

    def reset(self) -> None:
        n = len(self.thresholds)
        self.precise = np.zeros(n, dtype=np.int64)  # predicted pixels near a true boundary
        self.predicted = np.zeros(n, dtype=np.int64)
        self.recalled = np.zeros(n, dtype=np.int64)  # true pixels near a predicted boundary
        self.actual = 0

    @torch.no_grad()
    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        targets = _with_channel(torch.as_tensor(targets)).to(outputs.device)
        check_shapes(outputs, targets)
        H, W = targets.shape[-2:]
        r = self.tolerance_px if self.tolerance_px is not None else tolerance_pixels(H, W, self.max_dist)
        valid = targets != self.ignore_index  # B, 1, H, W
        truth = valid & (targets >= 0.5)
        near_truth = _dilate(truth, r)
        prob = torch.sigmoid(outputs.double()[:, :1])
        grid = torch.as_tensor(self.thresholds, dtype=prob.dtype, device=prob.device)
        predicted = valid & (prob >= grid.view(-1, 1, 1, 1, 1))  # K, B, 1, H, W
        near_predicted = _dilate(predicted.flatten(0, 1), r).view_as(predicted)
        self.predicted += to_numpy(predicted.sum(dim=(1, 2, 3, 4)))
        self.precise += to_numpy((predicted & near_truth).sum(dim=(1, 2, 3, 4)))
        self.recalled += to_numpy((truth & near_predicted).sum(dim=(1, 2, 3, 4)))
        self.actual += int(truth.sum())

    def compute(self) -> dict[str, float]:
        n = len(self.thresholds)
        precision = np.divide(self.precise, self.predicted, out=np.zeros(n), where=self.predicted > 0)
        recall = self.recalled / self.actual if self.actual else np.zeros(n)
        f = _f1(precision, recall)
        best = int(np.argmax(f))
        return {
            "odsF": float(f[best]) * 100.0,
            "threshold": float(self.thresholds[best]),
            "precision": float(precision[best]) * 100.0,
            "recall": float(recall[best]) * 100.0,
            "approximate": 1.0,
        }


def _f1(precision: np.ndarray, recall: np.ndarray) -> np.ndarray:
    den = precision + recall
    return np.divide(2 * precision * recall, den, out=np.zeros_like(den), where=den > 0)


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Boolean ``B x 1 x H x W`` grown by ``radius`` pixels in a square window."""
    k = 2 * radius + 1
    return F.max_pool2d(mask.float(), kernel_size=k, stride=1, padding=radius) > 0


def _load_odsf_accumulator() -> type:
    try:
        from sak_task_boundaries.odsf import OdsFAccumulator
    except ImportError as exc:
        missing = getattr(exc, "name", "") or ""
        if missing == "sak_task_boundaries.odsf":
            raise SakError(
                "the full boundary metric (odsF) needs sak_task_boundaries.odsf, which this "
                "installation of sak-task-boundaries does not have: upgrade the plugin, or use "
                "task.metric() for the approximate F"
            ) from exc
        raise SakError(
            f"the full boundary metric (odsF) could not load its evaluator ({exc}): reinstall "
            "sak-task-boundaries with its dependencies (pip install -e plugins/tasks/boundaries)"
        ) from exc
    return OdsFAccumulator


# scores the odsF module returns as fractions; reported here in percent like every other task
_FRACTIONS = ("odsF", "oisF", "AP", "ods_precision", "ods_recall")


class FullBoundaryMetric:
    """The protocol's odsF, computed by :mod:`sak_task_boundaries.odsf` (edge NMS, 99
    thresholds, pixel matching within ``max_dist`` of the diagonal).

    ``matching`` (an odsF option) is ``"bsds"``, BSDS ``correspondPixels``' counts as in
    published numbers (the default), or ``"exact"``, a maximum matching: faster and an upper
    bound. :attr:`matching` says which one scores.

    Each image's map is handed over as the 8-bit file the protocol scores
    (``uint8(sigmoid x 255)``, truncated), with its ground truth, both cropped to the box of
    non-ignored pixels so the padding goes; ignored pixels inside that box count as
    non-boundary. Images are scored in the odsF module's worker pool while evaluation goes on.
    ``odsF``, ``oisF``, ``AP`` and the ODS precision and recall are returned in percent.
    """

    def __init__(
        self, max_dist: float = MAX_DIST, ignore_index: int = IGNORE_INDEX, **odsf_options: Any
    ) -> None:
        accumulator = _load_odsf_accumulator()  # fail before a long evaluation loop, not after
        self.max_dist = max_dist
        self.ignore_index = ignore_index
        self.accumulator = accumulator(max_dist, **odsf_options)
        self.matching = getattr(self.accumulator, "matching", odsf_options.get("matching"))

    @property
    def options(self) -> dict[str, Any]:
        """The odsF options that decide what its scores compare with (``sak eval`` records them)."""
        return {"matching": self.matching}

    def reset(self) -> None:
        self.accumulator.reset()

    @torch.no_grad()
    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        targets = _with_channel(torch.as_tensor(targets))
        check_shapes(outputs, targets)
        prob = to_numpy(torch.sigmoid(outputs.float()[:, 0]))
        gt = to_numpy(targets[:, 0]).astype(np.float64)
        for p, g in zip(prob, gt, strict=True):
            valid = g != self.ignore_index
            rows, cols = np.flatnonzero(valid.any(axis=1)), np.flatnonzero(valid.any(axis=0))
            if rows.size == 0:
                continue
            box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            boundary = (valid[box] & (g[box] >= 0.5)).astype(np.uint8)
            self.accumulator.update(to_uint8(p[box]), boundary)

    def compute(self) -> dict[str, float]:
        scores = self.accumulator.compute()
        return {
            **{k: float(v) * (100.0 if k in _FRACTIONS else 1.0) for k, v in scores.items()},
            "approximate": 0.0,
        }


class BoundaryTask(Task):
    """Object boundaries bound to a dataset.

    Target: ``float32 1 x H x W`` in {0, 1}, 255 ignored. Dataset options: ``pos_weight``
    (loss, default 0.95) and ``max_dist`` (matching distance as a fraction of the diagonal,
    default 0.0075; NYUD-v2 0.011). Prediction: sigmoid map ``B x 1 x H x W``, saved as
    ``prob x 255`` 8-bit PNG.
    """

    ignore_index = IGNORE_INDEX

    def loss(self) -> nn.Module:
        return BalancedBCELoss(float(self.options.get("pos_weight", POS_WEIGHT)), self.ignore_index)

    def metric(self, full: bool = False, **odsf_options: Any) -> ApproximateBoundaryF | FullBoundaryMetric:
        """The approximate F (fast, for validation) or, with ``full=True``, the protocol's odsF;
        ``odsf_options`` (``matching``, ``workers``, ``nms_radius``, ...) go to the odsF
        accumulator (``matching="bsds"``, the published protocol's counts, by default;
        ``"exact"`` for the faster upper bound)."""
        max_dist = float(self.options.get("max_dist", MAX_DIST))
        if full:
            return FullBoundaryMetric(max_dist, self.ignore_index, **odsf_options)
        tolerance = self.options.get("tolerance_px")
        return ApproximateBoundaryF(
            max_dist, None if tolerance is None else int(tolerance), self.ignore_index
        )

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(outputs)

    def save_prediction(self, prediction: torch.Tensor, path: Path) -> Path:
        values = to_numpy(prediction).reshape(prediction.shape[-2:])  # 1 x H x W -> H x W, even 1 pixel high
        return write_png(to_uint8(values), with_suffix(path, ".png"))

    def visualise(self, prediction: torch.Tensor) -> np.ndarray:
        values = to_numpy(prediction).reshape(prediction.shape[-2:]).astype(np.float64)
        return colour_grey(values, valid=values != self.ignore_index)

"""Task-agnostic building blocks shared by task plugins: masks, accumulators, losses, colours, writers.

Nothing here knows a task by name. A plugin for a dense labelling task (one class id per pixel)
can be a few lines on top of :class:`LabelMapTask`; the other pieces are small functions any
task can use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from sak_core.errors import SpecError, TargetError
from sak_core.plugin.specs import IGNORE_INDEX
from sak_core.plugin.tasks import Task
from sak_core.runtime.files import atomic_write

VOID_COLOUR = (224, 223, 192)
"""Colour of ignored pixels in every rendering (off-grey, so it never looks like a value)."""


# -- tensors --------------------------------------------------------------------------------
def to_numpy(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """A CPU numpy copy of ``x`` (tensors are detached first)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def label_map(target: torch.Tensor) -> torch.Tensor:
    """Class-id targets as ``B x H x W`` (a ``B x 1 x H x W`` input loses its channel axis)."""
    if target.dim() == 4:
        if target.shape[1] != 1:
            raise TargetError(f"a label map has one channel, got targets of shape {tuple(target.shape)}")
        target = target[:, 0]
    return target.long()


def valid_pixels(target: torch.Tensor, ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """``B x 1 x H x W`` mask of pixels whose every channel differs from ``ignore_index``
    (``target`` is ``B x C x H x W``)."""
    return (target != ignore_index).all(dim=1, keepdim=True)


def class_id_error(bad_ids: torch.Tensor, num_classes: int, ignore_index: int = IGNORE_INDEX) -> TargetError:
    """The error for target class ids outside ``0..num_classes-1`` (``bad_ids``: some of them)."""
    return TargetError(
        f"target holds class ids outside 0..{num_classes - 1} (and not the ignore value {ignore_index}), "
        f"e.g. {int(bad_ids.reshape(-1)[0])}: check the dataset's labels and num_outputs"
    )


def checks_targets_at_once(device: torch.device) -> bool:
    """Whether a loss on ``device`` raises for a bad class id at once (the CPU), or reports it
    through a NaN loss (a GPU: checking there would wait for the GPU every step, while an id
    beyond the classes is a device-side assert that leaves the CUDA context unusable; the
    trainer's per-step finite check already waits, and its report names the ids)."""
    return device.type == "cpu"


def check_shapes(outputs: torch.Tensor, target: torch.Tensor) -> None:
    """Raise when outputs and targets do not share batch size and spatial size."""
    if outputs.shape[0] != target.shape[0] or outputs.shape[-2:] != target.shape[-2:]:
        raise ValueError(
            f"outputs {tuple(outputs.shape)} and targets {tuple(target.shape)} differ in batch or "
            "spatial size: resize the head outputs to the target size before the loss or metric"
        )


# -- losses ---------------------------------------------------------------------------------
def cross_entropy_sum_over_valid(
    outputs: torch.Tensor,
    target: torch.Tensor,
    class_weight: torch.Tensor | None = None,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Cross-entropy summed over valid pixels and divided by their count (0 when none is valid).

    With ``class_weight`` every pixel's term is scaled by its class weight but the divisor stays
    the pixel count (not the sum of weights, as ``F.cross_entropy(reduction="mean")`` would use).
    """
    target = label_map(target)
    check_shapes(outputs, target)
    num_classes = outputs.shape[1]
    out_of_range = (target != ignore_index) & ((target < 0) | (target >= num_classes))
    at_once = checks_targets_at_once(target.device)
    if at_once and out_of_range.any():
        raise class_id_error(target[out_of_range], num_classes, ignore_index)
    if not at_once:  # no sync: the bad ids are ignored here and the loss is made NaN below
        target = target.masked_fill(out_of_range, ignore_index)
    total = F.cross_entropy(
        outputs.float(), target, weight=class_weight, ignore_index=ignore_index, reduction="sum"
    )
    count = (target != ignore_index).sum().clamp(min=1)
    loss = total / count
    return loss if at_once else torch.where(out_of_range.any(), torch.full_like(loss, float("nan")), loss)


def l1_sum_over_valid(
    prediction: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE_INDEX
) -> torch.Tensor:
    """L1 distance summed over the channels of valid pixels and divided by the valid pixel count.

    ``prediction`` and ``target`` are ``B x C x H x W``; a pixel is valid when none of its target
    channels equals ``ignore_index``.
    """
    check_shapes(prediction, target)
    mask = valid_pixels(target, ignore_index)  # B, 1, H, W
    diff = (prediction.float() - target.float()).abs() * mask
    return diff.sum() / mask.sum().clamp(min=1)


class CrossEntropyLoss(nn.Module):
    """``module(outputs B x K x H x W, target B x H x W) -> scalar``; see
    :func:`cross_entropy_sum_over_valid`."""

    def __init__(self, ignore_index: int = IGNORE_INDEX) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, outputs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy_sum_over_valid(outputs, target, ignore_index=self.ignore_index)


# -- accumulators ---------------------------------------------------------------------------
class ConfusionMatrix:
    """Dataset-level confusion matrix of class-id maps (rows: target, columns: prediction)."""

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX) -> None:
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.matrix = torch.zeros(num_classes, num_classes, dtype=torch.int64)

    def reset(self) -> None:
        self.matrix.zero_()

    def update(self, prediction: torch.Tensor, target: torch.Tensor) -> None:
        """Add class-id maps of equal shape; target pixels equal to ``ignore_index`` are skipped."""
        prediction, target = label_map(prediction), label_map(target)
        if prediction.shape != target.shape:
            raise ValueError(f"prediction {tuple(prediction.shape)} != target {tuple(target.shape)}")
        valid = target != self.ignore_index
        t, p = target[valid], prediction[valid]
        bad = (t < 0) | (t >= self.num_classes)
        if bad.any():
            raise class_id_error(t[bad], self.num_classes, self.ignore_index)
        n = self.num_classes
        counts = torch.bincount(t * n + p, minlength=n * n).reshape(n, n)
        self.matrix += counts.cpu()

    def true_positives(self) -> np.ndarray:
        return self.matrix.diag().numpy()

    def false_positives(self) -> np.ndarray:
        return self.matrix.sum(dim=0).numpy() - self.true_positives()

    def false_negatives(self) -> np.ndarray:
        return self.matrix.sum(dim=1).numpy() - self.true_positives()

    def iou(self) -> np.ndarray:
        """Per-class IoU = TP / (TP + FP + FN); NaN for a class neither labelled nor predicted."""
        tp = self.true_positives().astype(np.float64)
        union = tp + self.false_positives() + self.false_negatives()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, tp / np.maximum(union, 1), np.nan)


ABSENT_CLASS_POLICIES = ("zero", "skip")


class MeanIoU:
    """Dataset-level mean IoU of ``argmax`` predictions, in percent.

    TP, FP and FN are accumulated over everything added, then IoU is taken per class and averaged.
    ``absent_classes`` decides what a class that never occurs (neither labelled nor predicted)
    contributes: ``"zero"`` (the reference protocol: it counts with IoU 0) or ``"skip"`` (left
    out of the mean).
    """

    def __init__(
        self,
        num_classes: int,
        metric_name: str = "mIoU",
        ignore_index: int = IGNORE_INDEX,
        absent_classes: str = "zero",
    ) -> None:
        if absent_classes not in ABSENT_CLASS_POLICIES:
            raise SpecError(
                f"absent_classes must be one of {ABSENT_CLASS_POLICIES}, got {absent_classes!r}"
            )
        self.metric_name = metric_name
        self.absent_classes = absent_classes
        self.confusion = ConfusionMatrix(num_classes, ignore_index)

    def reset(self) -> None:
        self.confusion.reset()

    @torch.no_grad()
    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        targets = label_map(torch.as_tensor(targets))
        check_shapes(outputs, targets)
        self.confusion.update(outputs.argmax(dim=1), targets.to(outputs.device))

    def compute(self) -> dict[str, float]:
        iou = self.confusion.iou()
        if self.absent_classes == "zero":
            iou = np.nan_to_num(iou, nan=0.0)
            mean = float(iou.mean())
        else:
            mean = float(np.nanmean(iou)) if np.isfinite(iou).any() else 0.0
        total = int(self.confusion.matrix.sum())
        accuracy = float(self.confusion.true_positives().sum()) / total if total else 0.0
        return {self.metric_name: mean * 100.0, "pixel_accuracy": accuracy * 100.0}


def f_beta(
    true_positives: np.ndarray, predicted: np.ndarray, actual: np.ndarray, beta_sq: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(F, precision, recall) from counts, elementwise; a 0/0 ratio counts as 0."""
    tp, pp, ap = (np.asarray(a, dtype=np.float64) for a in (true_positives, predicted, actual))
    precision = np.divide(tp, pp, out=np.zeros_like(tp), where=pp > 0)
    recall = np.divide(tp, ap, out=np.zeros_like(tp), where=ap > 0)
    num = (1.0 + beta_sq) * precision * recall
    den = beta_sq * precision + recall
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0), precision, recall


def threshold_grid(step: float = 0.05) -> np.ndarray:
    """Thresholds ``step, 2*step, ...`` strictly below 1 (0.05 gives the 19 values 0.05..0.95)."""
    n = int(round(1.0 / step))
    return np.arange(1, n) / n if abs(n * step - 1.0) < 1e-9 else np.arange(step, 1.0 - 1e-12, step)


def count_at_or_above(values: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """For each threshold, how many of ``values`` are ``>=`` it (int64, one per threshold)."""
    # bucketize(right=True) = number of thresholds <= value
    buckets = torch.bucketize(values.reshape(-1), thresholds, right=True)
    hist = torch.bincount(buckets, minlength=len(thresholds) + 1)
    # value >= thresholds[k]  <=>  bucket > k
    return hist.flip(0).cumsum(0).flip(0)[1:]


# -- colours --------------------------------------------------------------------------------
def label_palette(num_colours: int = 256) -> np.ndarray:
    """``num_colours x 3`` uint8 palette: the bits of the class id spread over R, G and B from the
    most significant bit down (the colour scheme of PASCAL VOC label images)."""
    ids = np.arange(num_colours)
    palette = np.zeros((num_colours, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((ids >> (3 * bit + channel)) & 1) << (7 - bit)
    return palette.astype(np.uint8)


def colour_labels(
    labels: np.ndarray, palette: np.ndarray | None = None, ignore_index: int = IGNORE_INDEX
) -> np.ndarray:
    """Class-id map ``H x W`` -> ``H x W x 3`` uint8; ignored pixels get :data:`VOID_COLOUR`."""
    labels = np.asarray(labels).astype(np.int64)
    palette = label_palette() if palette is None else palette
    ignored = labels == ignore_index
    rgb = palette[np.clip(labels, 0, len(palette) - 1)].astype(np.uint8)
    rgb[ignored] = VOID_COLOUR
    return rgb


# a perceptually ordered ramp (dark blue -> teal -> green -> yellow), interpolated linearly
_RAMP = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)


def colour_scalars(
    values: np.ndarray,
    valid: np.ndarray | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """Scalar map ``H x W`` -> ``H x W x 3`` uint8 on a dark-blue-to-yellow ramp.

    ``vmin``/``vmax`` default to the range of the valid values; invalid pixels get
    :data:`VOID_COLOUR`.
    """
    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values) if valid is None else (np.asarray(valid, bool) & np.isfinite(values))
    if valid.any():
        lo = float(values[valid].min()) if vmin is None else vmin
        hi = float(values[valid].max()) if vmax is None else vmax
    else:
        lo, hi = 0.0, 1.0
    scaled = np.clip((values - lo) / max(hi - lo, 1e-12), 0.0, 1.0)
    scaled = np.where(valid, scaled, 0.0)
    position = scaled * (len(_RAMP) - 1)
    low = np.floor(position).astype(np.int64).clip(0, len(_RAMP) - 2)
    frac = (position - low)[..., None]
    rgb = _RAMP[low] * (1 - frac) + _RAMP[low + 1] * frac
    rgb = np.rint(rgb).astype(np.uint8)
    rgb[~valid] = VOID_COLOUR
    return rgb


def colour_grey(values: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Map with values in [0, 1] ``H x W`` -> grey ``H x W x 3`` uint8; invalid pixels void."""
    values = np.asarray(values, dtype=np.float64)
    grey = np.rint(np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    if valid is not None:
        rgb[~np.asarray(valid, bool)] = VOID_COLOUR
    return rgb


def to_uint8(values: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """``values * scale`` truncated to uint8 (the reference writers truncate, they do not round)."""
    return np.clip(np.asarray(values, dtype=np.float64) * scale, 0, 255).astype(np.uint8)


# -- writers --------------------------------------------------------------------------------
def write_atomic(path: str | os.PathLike, write: Callable[[Any], None]) -> Path:
    """Call ``write(file_object)`` on a temporary file next to ``path`` and move it into place, so
    a reader never sees a half-written file. Parent folders are created. The one durable writer
    does it (:func:`sak_core.runtime.files.atomic_write`: synced, the umask's permissions, a
    refused write naming ``path``)."""

    def to_file(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            write(handle)

    return atomic_write(path, to_file)


def write_png(array: np.ndarray, path: str | os.PathLike, palette: np.ndarray | None = None) -> Path:
    """Write ``H x W`` (grey, or palette indices when ``palette`` is given) or ``H x W x 3`` uint8
    as a PNG, atomically. ``H x W`` uint16 arrays are written as 16-bit grey."""
    array = np.ascontiguousarray(array)
    if not (array.dtype == np.uint8 or (array.dtype == np.uint16 and array.ndim == 2)):
        raise ValueError(f"write_png takes uint8 (or 2-D uint16) arrays, got {array.dtype} {array.shape}")
    image = Image.fromarray(array)
    if palette is not None:
        if image.mode != "L":
            raise ValueError("a palette PNG takes an H x W uint8 index array")
        image.putpalette(np.asarray(palette, dtype=np.uint8)[:256].reshape(-1).tolist())  # L -> P
    return write_atomic(path, lambda f: image.save(f, format="PNG"))


def write_npy(array: np.ndarray, path: str | os.PathLike) -> Path:
    """Write an array as ``.npy``, atomically."""
    return write_atomic(path, lambda f: np.save(f, np.asarray(array)))


def with_suffix(path: str | os.PathLike, suffix: str) -> Path:
    """``path`` (given without a suffix) plus ``suffix``; a name with dots keeps them."""
    path = Path(path)
    return path.with_name(path.name + suffix)


# -- a ready-made task for class-id maps ----------------------------------------------------
class LabelMapTask(Task):
    """A task whose target is one class id per pixel (``int64 H x W``, ``ignore_index`` ignored).

    Loss: cross-entropy over valid pixels divided by their count. Metric: dataset-level mIoU
    (dataset option ``absent_classes``: ``"zero"`` or ``"skip"``). Predictions: ``argmax`` ids,
    saved as palette PNGs whose pixel values are the ids.
    """

    ignore_index = IGNORE_INDEX

    def loss(self) -> nn.Module:
        return CrossEntropyLoss(ignore_index=self.ignore_index)

    def metric(self, full: bool = False) -> MeanIoU:
        return MeanIoU(
            self.num_outputs,
            metric_name=self.spec.metric_name or "mIoU",
            ignore_index=self.ignore_index,
            absent_classes=str(self.options.get("absent_classes", "zero")),
        )

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """``B x K x H x W`` -> ``B x H x W`` int64 class ids."""
        return outputs.argmax(dim=1)

    def save_prediction(self, prediction: torch.Tensor, path: Path) -> Path:
        labels = to_numpy(label_map(torch.as_tensor(prediction)[None]))[0]
        if labels.max(initial=0) > 255:
            return write_png(labels.astype(np.uint16), with_suffix(path, ".png"))
        return write_png(labels.astype(np.uint8), with_suffix(path, ".png"), palette=label_palette())

    def visualise(self, prediction: torch.Tensor) -> np.ndarray:
        labels = to_numpy(label_map(torch.as_tensor(prediction)[None]))[0]
        return colour_labels(labels, label_palette(), self.ignore_index)

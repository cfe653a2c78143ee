"""The task: human parts segmentation (background plus body-part ids, dataset-level mIoU)."""

from __future__ import annotations

from sak_core.plugin import LabelMapTask

__all__ = ["HumanPartsTask"]


class HumanPartsTask(LabelMapTask):
    """Human parts segmentation bound to a dataset.

    Target: ``int64 H x W``, 0 background, 1..K-1 parts, 255 ignored (datasets mark images with
    no person all 255); the dataset sets ``tasks={"parts": {"num_outputs": K}}`` (7 on
    PASCAL-Context). Loss: cross-entropy over valid pixels / their count. Metric: mIoU from
    TP/FP/FN accumulated over the split. Prediction: ``argmax`` ids as a palette PNG.
    """

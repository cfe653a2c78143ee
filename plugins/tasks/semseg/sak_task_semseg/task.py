"""The task: semantic segmentation (one class id per pixel, scored by dataset-level mIoU)."""

from __future__ import annotations

from sak_core.plugin import LabelMapTask

__all__ = ["SemanticSegmentationTask"]


class SemanticSegmentationTask(LabelMapTask):
    """Semantic segmentation bound to a dataset.

    Target: ``int64 H x W`` class ids, 255 ignored; the dataset sets the class count with
    ``tasks={"semseg": {"num_outputs": K}}``. Loss: cross-entropy over valid pixels / their count.
    Metric: mIoU from TP/FP/FN accumulated over the split. Prediction: ``argmax`` ids, saved as a
    palette PNG whose pixel values are the ids.
    """

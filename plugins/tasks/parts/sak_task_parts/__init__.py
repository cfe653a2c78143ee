"""sak task plugin: human parts segmentation (background plus body-part ids, dataset-level mIoU)."""

from __future__ import annotations

from sak_core import TaskSpec, hookimpl
from sak_core.tasklib import LabelMapTask

__all__ = ["SPEC", "HumanPartsTask", "sak_register_tasks"]


class HumanPartsTask(LabelMapTask):
    """Human parts segmentation bound to a dataset.

    Target: ``int64 H x W``, 0 background, 1..K-1 parts, 255 ignored (datasets mark images with
    no person all 255); the dataset sets ``tasks={"parts": {"num_outputs": K}}`` (7 on
    PASCAL-Context). Loss: cross-entropy over valid pixels / their count. Metric: mIoU from
    TP/FP/FN accumulated over the split. Prediction: ``argmax`` ids as a palette PNG.
    """


SPEC = TaskSpec(
    name="parts",
    factory=HumanPartsTask,
    default_outputs=None,
    loss_weight=2.0,
    metric_name="mIoU",
    higher_is_better=True,
    description="human parts segmentation: cross-entropy, dataset-level mIoU",
)


@hookimpl
def sak_register_tasks(register) -> None:
    register(SPEC)

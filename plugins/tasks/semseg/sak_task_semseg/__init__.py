"""sak task plugin: semantic segmentation (one class id per pixel, scored by dataset-level mIoU)."""

from __future__ import annotations

from sak_core.plugin import TaskSpec, hookimpl, lazy

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

__all__ = ["SPEC", "sak_register_tasks"]

SPEC = TaskSpec(
    name="semseg",
    factory=lazy("sak_task_semseg.task:SemanticSegmentationTask"),
    default_outputs=None,
    loss_weight=1.0,
    metric_name="mIoU",
    higher_is_better=True,
    description="semantic segmentation: cross-entropy, dataset-level mIoU",
)


@hookimpl
def sak_register_tasks(register) -> None:
    register(SPEC)

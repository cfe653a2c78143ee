"""sak task plugin: human parts segmentation (background plus body-part ids, dataset-level mIoU)."""

from __future__ import annotations

from sak_core.plugin import TaskSpec, hookimpl, lazy

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

__all__ = ["SPEC", "sak_register_tasks"]

SPEC = TaskSpec(
    name="parts",
    factory=lazy("sak_task_parts.task:HumanPartsTask"),
    default_outputs=None,
    loss_weight=2.0,
    metric_name="mIoU",
    higher_is_better=True,
    description="human parts segmentation: cross-entropy, dataset-level mIoU",
)


@hookimpl
def sak_register_tasks(register) -> None:
    register(SPEC)

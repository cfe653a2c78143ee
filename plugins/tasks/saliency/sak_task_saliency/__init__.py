"""sak task plugin: saliency (two-class map, class-balanced cross-entropy, maxF over thresholds)."""

from __future__ import annotations

from sak_core.plugin import TaskSpec, hookimpl, lazy

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

__all__ = ["SPEC", "sak_register_tasks"]

SPEC = TaskSpec(
    name="saliency",
    factory=lazy("sak_task_saliency.task:SaliencyTask"),
    default_outputs=2,
    loss_weight=5.0,
    metric_name="maxF",
    higher_is_better=True,
    description="saliency: class-balanced cross-entropy, maxF over 19 thresholds",
)


@hookimpl
def sak_register_tasks(register) -> None:
    register(SPEC)

"""sak task plugin: monocular depth in metres (L1 loss, dataset-level RMSE)."""

from __future__ import annotations

from sak_core.plugin import TaskSpec, hookimpl, lazy

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

__all__ = ["SPEC", "sak_register_tasks"]

SPEC = TaskSpec(
    name="depth",
    factory=lazy("sak_task_depth.task:DepthTask"),
    default_outputs=1,
    loss_weight=1.0,
    metric_name="RMSE",
    higher_is_better=False,
    description="depth: L1, dataset-level RMSE over 0 < gt < 80",
)


@hookimpl
def sak_register_tasks(register) -> None:
    register(SPEC)

"""sak task plugin: surface normals (L1 on unit predictions, mean angular error in degrees)."""

from __future__ import annotations

from sak_core.plugin import TaskSpec, hookimpl, lazy

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

__all__ = ["SPEC", "sak_register_tasks"]

SPEC = TaskSpec(
    name="normals",
    factory=lazy("sak_task_normals.task:NormalsTask"),
    default_outputs=3,
    loss_weight=10.0,
    metric_name="mErr",
    higher_is_better=False,
    description="surface normals: L1 on unit normals, mean angular error (degrees)",
)


@hookimpl
def sak_register_tasks(register) -> None:
    register(SPEC)

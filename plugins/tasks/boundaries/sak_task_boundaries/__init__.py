"""sak task plugin: object boundaries (balanced BCE, approximate F in training, odsF on request)."""

from __future__ import annotations

from sak_core.plugin import TaskSpec, hookimpl, lazy

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

__all__ = [
    "SPEC",
    "ApproximateBoundaryF",
    "BalancedBCELoss",
    "BoundaryTask",
    "FullBoundaryMetric",
    "sak_register_tasks",
]

SPEC = TaskSpec(
    name="boundaries",
    factory=lazy("sak_task_boundaries.task:BoundaryTask"),
    default_outputs=1,
    loss_weight=50.0,
    metric_name="odsF",
    higher_is_better=True,
    description="object boundaries: balanced BCE (pos 0.95), approximate F; odsF via metric(full=True)",
)


@hookimpl
def sak_register_tasks(register) -> None:
    register(SPEC)


def __getattr__(name: str):
    """The task's classes, imported from :mod:`.task` on first use so that listing plugins does
    not import torch."""
    if name in __all__ and name not in globals():
        from sak_task_boundaries import task

        return getattr(task, name)
    raise AttributeError(f"module 'sak_task_boundaries' has no attribute '{name}'")

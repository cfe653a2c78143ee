"""sak task plugin: object boundaries (balanced BCE, approximate F in training, odsF on request)."""

from __future__ import annotations

from sak_core import TaskSpec, hookimpl
from sak_task_boundaries.task import (
    ApproximateBoundaryF,
    BalancedBCELoss,
    BoundaryTask,
    FullBoundaryMetric,
)

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
    factory=BoundaryTask,
    default_outputs=1,
    loss_weight=50.0,
    metric_name="odsF",
    higher_is_better=True,
    description="object boundaries: balanced BCE (pos 0.95), approximate F; odsF via metric(full=True)",
)


@hookimpl
def sak_register_tasks(register) -> None:
    register(SPEC)

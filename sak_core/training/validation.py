"""The score that picks a run's best checkpoint from a validation result."""

from __future__ import annotations

from collections.abc import Mapping

from sak_core.evaluation.scoring import EvalResult, primary_metrics
from sak_core.evaluation.multitask_gain import multitask_gain
from sak_core.plugin.tasks import Task


def selection_score(result: EvalResult, tasks: Mapping[str, Task], reference: Mapping[str, float] | str) -> float:
    """Higher is better: the multi-task gain dm (percent) against ``reference`` (a baseline table
    or the first validation's primary metrics); minus the distillation loss without tasks."""
    primary = primary_metrics(result.metrics, tasks)
    if not primary:
        return -(result.distill_loss if result.distill_loss is not None else float("inf"))
    if not isinstance(reference, str):
        reference = {k: (v if abs(v) > 1e-6 else 1e-6) for k, v in reference.items()}
    specs = {name: task.spec for name, task in tasks.items()}
    return multitask_gain(primary, reference, specs)

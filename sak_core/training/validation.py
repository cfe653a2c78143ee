"""Periodic validation: every task's dataset-level metric, and the score that picks the best run."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch.utils.data import DataLoader

from sak_core.assemble import add_derived_targets
from sak_core.distill import distillation_loss
from sak_core.evaluation.scoring import update_metrics
from sak_core.model import SAKStudent
from sak_core.multitask_gain import multitask_gain
from sak_core.tasks import Task
from sak_core.teachers import Teacher
from sak_core.runtime import autocast


def metrics_of(tasks: Mapping[str, Task]) -> dict[str, object]:
    """A fresh metric per task; tasks that define none are left out."""
    out = {}
    for name, task in tasks.items():
        try:
            out[name] = task.metric()
        except NotImplementedError:
            continue
    return out


@torch.no_grad()
def evaluate(
    student: SAKStudent,
    tasks: Mapping[str, Task],
    loader: DataLoader,
    device: torch.device,
    precision: str = "fp32",
    teachers: Mapping[str, Teacher] | None = None,
    teacher_dtype: torch.dtype = torch.float32,
    use_valid_region: bool = True,
) -> dict[str, float]:
    """Score ``student`` on every batch of ``loader``.

    Returns flat ``"task/metric"`` keys for each task's metric and, when ``teachers`` are given,
    ``"distill/loss"``: the mean distillation loss per batch (the stage-1 validation score).
    """
    was_training = student.training
    student.eval()
    metrics = metrics_of(tasks)
    distill_total, batches = 0.0, 0
    try:
        for batch in loader:
            batch = add_derived_targets(dict(batch), list(tasks))
            images = batch["image"].to(device, non_blocking=True)
            with autocast(device, precision):
                out = student(images)
            update_metrics(metrics, out.tasks, batch)  # crops each image to its valid box
            if teachers:
                targets = {n: t(images.to(teacher_dtype)) for n, t in teachers.items()}
                distill_total += float(distillation_loss(out.distill, targets, use_valid_region)[0])
            batches += 1
    finally:
        student.train(was_training)
    scores: dict[str, float] = {}
    for name, metric in metrics.items():
        for key, value in metric.compute().items():
            scores[f"{name}/{key}"] = float(value)
    if teachers and batches:
        scores["distill/loss"] = distill_total / batches
    return scores


def primary_metrics(scores: Mapping[str, float], tasks: Mapping[str, Task]) -> dict[str, float]:
    """Task name -> its primary metric, for the tasks ``scores`` has one for."""
    return {
        name: scores[f"{name}/{task.spec.metric_name}"]
        for name, task in tasks.items()
        if f"{name}/{task.spec.metric_name}" in scores
    }


def selection_score(scores: Mapping[str, float], tasks: Mapping[str, Task],
                    reference: Mapping[str, float] | str) -> float:
    """Higher is better: the multi-task gain dm (percent) against ``reference`` (a baseline table
    or the first validation's primary metrics); minus the distillation loss without tasks."""
    primary = primary_metrics(scores, tasks)
    if not primary:
        return -scores.get("distill/loss", float("inf"))
    if not isinstance(reference, str):
        reference = {k: (v if abs(v) > 1e-6 else 1e-6) for k, v in reference.items()}
    specs = {name: task.spec for name, task in tasks.items()}
    return multitask_gain(primary, reference, specs)

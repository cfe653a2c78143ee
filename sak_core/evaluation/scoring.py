"""Score a student on a dataset split with every task's dataset-level metric, and the dm."""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from sak_core.model.assemble import add_derived_targets
from sak_core.model.mixture import task_of_head
from sak_core.datasets.batch import collate_samples, non_finite_error, sample_ids
from sak_core.datasets.loader import SakDataLoader
from sak_core.model.distill import distillation_loss
from sak_core.errors import SpecError, TargetError
from sak_core.evaluation.alignment import AlignmentScores
from sak_core.evaluation.prediction import crop_box
from sak_core.model import SAKStudent
from sak_core.runtime.device import Precision, as_precision, autocast
from sak_core.plugin.specs import LABEL_MASK, label_mask
from sak_core.plugin.tasks import Metric, Task
from sak_core.plugin.teachers import Teacher


@dataclass
class EvalResult:
    """Scores of one split.

    metrics: task -> every score its metric computes (the primary one included).
    num_images: images scored.
    seconds: wall time of the loop.
    protocol: ``"full"`` when tasks with a separate protocol metric used it (boundary odsF),
        ``"fast"`` when they used their training-time metric.
    distill_loss: mean distillation loss per batch against the teachers, when they were given.
    alignment: with teachers, teacher -> its stage-1 scores (:mod:`sak_core.evaluation.alignment`):
        ``cosine`` and ``centred_cosine`` (means over its levels) and ``level{l}/cosine``,
        ``level{l}/centred_cosine`` per tap level; empty without teachers.
    metric_options: task -> the options its protocol metric scored with: those given to
        :func:`evaluate`, and those the metric reports in its ``options`` attribute (the
        boundaries' odsF reports its ``matching``).
    """

    metrics: dict[str, dict[str, float]]
    num_images: int
    seconds: float = 0.0
    protocol: str = "full"
    distill_loss: float | None = None
    metric_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    alignment: dict[str, dict[str, float]] = field(default_factory=dict)

    def flat(self) -> dict[str, float]:
        """``"task/metric"`` -> value, and ``"distill/loss"`` and ``"distill/TEACHER/SCORE"``
        (``alignment``) when scored (the metrics.jsonl form)."""
        scores = {f"{task}/{key}": value for task, values in self.metrics.items() for key, value in values.items()}
        if self.distill_loss is not None:
            scores["distill/loss"] = self.distill_loss
        for teacher, values in self.alignment.items():
            scores.update({f"distill/{teacher}/{key}": value for key, value in values.items()})
        return scores


def make_metric(task: Task, full: bool = True, options: Mapping[str, Any] | None = None) -> Metric | None:
    """A fresh metric of ``task`` through the declared :meth:`~sak_core.plugin.tasks.Task.metric`:
    ``metric(full=True, **options)`` when ``full``, ``metric(full=False)`` otherwise (options
    belong to the protocol metric); None when the task defines no metric. A metric that takes
    no options refuses given ones with Python's ``TypeError``."""
    try:
        return task.metric(full=full, **(dict(options or {}) if full else {}))
    except NotImplementedError:
        return None


def _make_metrics(
    tasks: Mapping[str, Task], full: bool, given: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Metric], dict[str, dict[str, Any]]]:
    """Each task's metric, and the options each protocol metric scores with (given ones and
    the metric's own ``options``). Options for an unknown task, or that a task's protocol
    metric refuses, are a :class:`SpecError` naming the task."""
    unknown = sorted(set(given) - set(tasks))
    if unknown:
        raise SpecError(f"metric options for {', '.join(unknown)}, which is not scored here "
                        f"(scored: {', '.join(tasks) or 'none'})")
    metrics, options = {}, {}
    for name, task in tasks.items():
        wanted = dict(given.get(name) or {})
        try:
            metric = make_metric(task, full, wanted)
        except (TypeError, ValueError) as exc:
            if not wanted:
                raise
            raise SpecError(f"task '{name}' refused the metric options {wanted}: {exc}") from None
        if metric is None:
            continue
        metrics[name] = metric
        reported = getattr(metric, "options", None) if full else None
        scored = {**(dict(reported) if isinstance(reported, Mapping) else {}), **(wanted if full else {})}
        if scored:
            options[name] = scored
    return metrics, options


def _covers_all(box: Sequence[int] | None, size: tuple[int, int]) -> bool:
    return box is None or tuple(int(v) for v in box) == (0, 0, *size)


def update_metrics(
    metrics: Mapping[str, Metric],
    outputs: Mapping[str, torch.Tensor],
    batch: Mapping[str, Any],
    crop: bool = True,
    partial: Collection[str] = (),
) -> None:
    """Add one batch: each task's raw outputs are resized to its target's size when they differ,
    then (with ``crop``) each image is cut to its ``meta["valid_box"]`` before the update. A task
    some samples have no label for (``label_mask``) is scored on the others only; a task of
    ``partial`` (its dataset's :attr:`~sak_core.plugin.specs.DatasetSpec.partial`) that no sample
    of the batch has is skipped for it."""
    all_metas = batch.get("meta") or [{} for _ in range(len(next(iter(outputs.values()))))]
    for name, metric in metrics.items():
        key = task_of_head(name)  # the batch holds a TASK@KEY head's targets under TASK
        if key not in batch and name in partial:
            continue
        if key not in batch:
            raise SpecError(
                f"the batch has no target for task '{name}': the dataset did not load its labels "
                f"(batch keys: {', '.join(k for k in batch if k not in ('meta', LABEL_MASK))})"
            )
        out, target, metas = outputs[name].float(), batch[key], all_metas
        mask = label_mask(batch, key)
        if mask is not None:
            if not bool(mask.any()):
                continue
            keep = mask.nonzero().flatten().tolist()
            out, target, metas = out[keep], target[keep], [all_metas[i] for i in keep]
        size = tuple(target.shape[-2:])
        if tuple(out.shape[-2:]) != size:
            out = F.interpolate(out, size=size, mode="bilinear", align_corners=False)
        target = target.to(out.device)
        boxes = [m.get("valid_box") for m in metas]
        try:
            if not crop or all(_covers_all(b, size) for b in boxes):
                metric.update(out, target)
                continue
            for i, box in enumerate(boxes):
                o, t = out[i : i + 1], target[i : i + 1]
                if box is not None:
                    o, t = crop_box(o, box), crop_box(t, box)
                metric.update(o, t)
        except TargetError as exc:
            raise target_error_in(name, metas, exc) from None


def partial_tasks(tasks: Mapping[str, Task]) -> set[str]:
    """The tasks of ``tasks`` that some samples of their dataset may lack: those its spec declares
    partial, and derived tasks whose sources are among them."""
    out = set()
    for name, task in tasks.items():
        partial = tuple(getattr(getattr(task, "dataset", None), "partial", ()) or ())
        if task.spec.name in partial or any(key in partial for key in task.spec.requires):
            out.add(name)
    return out


def first_samples(batch: Mapping[str, Any], count: int) -> dict[str, Any]:
    """The first ``count`` samples of a collated ``batch`` (its label masks included)."""
    return {k: (first_samples(v, count) if isinstance(v, Mapping) else v[:count]) for k, v in batch.items()}


def target_error_in(task: str, metas: Sequence[Mapping[str, Any]] | None, exc: TargetError) -> TargetError:
    """``exc`` (targets a task cannot take) naming the task and the batch's samples (its ``meta``)."""
    return TargetError(f"task '{task}', {sample_ids(metas or [])}: {exc}")


def _batches(data: Any, batch_size: int, workers: int) -> Iterable[dict[str, Any]]:
    if isinstance(data, torch.utils.data.Dataset):
        return SakDataLoader(data, batch_size=batch_size, shuffle=False, num_workers=workers,
                             collate_fn=collate_samples)  # a sak error in a worker: raised as itself
    return data


@torch.no_grad()
def evaluate(
    student: SAKStudent,
    tasks: Mapping[str, Task],
    data: torch.utils.data.Dataset | Iterable[dict[str, Any]],
    device: str | torch.device | None = None,
    batch_size: int = 4,
    workers: int = 0,
    full: bool = True,
    crop: bool = True,
    precision: Precision | str = "fp32",
    limit: int | None = None,
    progress: Callable[[int], None] | None = None,
    teachers: Mapping[str, Teacher] | None = None,
    distill_valid_region: bool = True,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> EvalResult:
    """Score ``student`` on ``data`` with every task's dataset-level metric. ``sak eval`` and the
    training loop's validation both call this.

    Args:
        student: the student; it runs in eval mode and gets its previous mode back afterwards.
        tasks: task name -> :class:`~sak_core.plugin.tasks.Task` (see :func:`~sak_core.run.binding.bind_tasks`);
            every task must have a head. Tasks that define no metric are left out of the result.
        data: a test-time dataset (samples as in docs/concepts.md) or an iterable of collated
            batches (``meta`` a list of dicts), such as a ``DataLoader``.
        device: where the student runs (default: where its parameters are).
        batch_size, workers: of the loader built when ``data`` is a dataset.
        full: use a task's protocol metric when it has one (``metric(full=True)``: the boundary
            odsF); False keeps the fast training-time metric.
        crop: cut each image's outputs and targets to ``meta["valid_box"]`` before scoring. The
            padding carries ignore labels, so this changes only metrics that look at the image
            extent (boundary matching distances).
        precision: the autocast of the student's forward: a resolved
            :class:`~sak_core.runtime.device.Precision`, or a setting (``fp32``, the default;
            ``auto``, ``bf16``, ``fp16``) resolved here once for ``device``.
        limit: score at most this many images.
        progress: called with the number of images done after each batch.
        teachers: also score the distillation loss against these teachers (stage-1 validation),
            each placed in its own precision; ``distill_valid_region`` as ``optim.distill_valid_region``.
        metric_options: task -> keyword options of its protocol metric, used with ``full``
            (e.g. ``{"boundaries": {"matching": "exact"}}``); recorded in the result. A task
            that is not scored, or whose protocol metric refuses an option, is a
            :class:`~sak_core.errors.SpecError`.
    """
    device = torch.device(device) if device is not None else next(student.parameters()).device
    precision = as_precision(precision, device)
    was_training = student.training
    student = student.to(device).eval()
    metrics, options = _make_metrics(tasks, full, metric_options or {})
    partial = partial_tasks(tasks)
    alignment = AlignmentScores(distill_valid_region)
    seen, batches, distill_total, start = 0, 0, 0.0, time.perf_counter()
    try:
        for batch in _batches(data, batch_size, workers):
            if limit is not None and seen >= limit:
                break
            if limit is not None and seen + len(batch["image"]) > limit:
                keep = limit - seen
                batch = first_samples(batch, keep)
            batch = add_derived_targets(dict(batch), [task_of_head(name) for name in tasks])
            images = batch["image"].to(device, non_blocking=True)
            with autocast(device, precision):
                out = student(images)
            error = non_finite_error({n: out.tasks[n] for n in tasks if n in out.tasks}, batch.get("meta"))
            if error is not None:
                raise error
            update_metrics(metrics, out.tasks, batch, crop=crop, partial=partial)
            if teachers:
                targets = {name: teacher(images) for name, teacher in teachers.items()}
                distill_total += float(distillation_loss(out.distill, targets, distill_valid_region)[0])
                alignment.update(out.distill, targets)
            seen += len(batch["image"])
            batches += 1
            if progress is not None:
                progress(seen)
    finally:
        student.train(was_training)
    scores = {name: {k: float(v) for k, v in metric.compute().items()} for name, metric in metrics.items()}
    distill = distill_total / batches if teachers and batches else None
    return EvalResult(scores, seen, time.perf_counter() - start, "full" if full else "fast", distill, options,
                      alignment.compute())


# -- multi-task gain --------------------------------------------------------------------------
@dataclass
class GainSummary:
    """dm of a result against a baseline table.

    baseline: the table's name; values: task -> baseline value (tasks it covers);
    gains: task -> signed relative change in percent (positive = better);
    dm: mean of ``gains`` (None when no task is covered); missing: scored tasks the table lacks;
    dataset: the dataset the table's numbers were measured on, as the table names it ("" if it
    does not say).
    """

    baseline: str
    source: str = ""
    dataset: str = ""
    values: dict[str, float] = field(default_factory=dict)
    gains: dict[str, float] = field(default_factory=dict)
    dm: float | None = None
    missing: list[str] = field(default_factory=list)


def primary_metrics(metrics: Mapping[str, Mapping[str, float]], tasks: Mapping[str, Task]) -> dict[str, float]:
    """task -> value of its primary metric (``TaskSpec.metric_name``), for tasks that report it."""
    out = {}
    for name, scores in metrics.items():
        key = tasks[name].spec.metric_name if name in tasks else ""
        if key in scores and not math.isnan(scores[key]):
            out[name] = float(scores[key])
    return out


def same_dataset(table_dataset: str, dataset: str) -> bool:
    """Whether a baseline table's dataset (``"NYUD-v2"``) names registry dataset ``dataset``
    (``"nyud"``): equal, or one the other's prefix, ignoring case and punctuation. A table that
    names no dataset matches every one."""
    a, b = (re.sub(r"[^0-9a-z]", "", name.lower()) for name in (table_dataset, dataset))
    return not a or a.startswith(b) or b.startswith(a)


def gain_summary(
    metrics: Mapping[str, Mapping[str, float]],
    tasks: Mapping[str, Task],
    baseline: str | os.PathLike | Any,
) -> GainSummary:
    """dm of ``metrics`` against ``baseline`` (a shipped table name, a YAML path or a
    ``BaselineTable``) over the tasks the table covers, with sak_core.evaluation.multitask_gain."""
    from sak_core.evaluation.multitask_gain import BaselineTable, load_baseline, per_task_gain

    table = baseline if isinstance(baseline, BaselineTable) else load_baseline(baseline)
    primary = primary_metrics(metrics, tasks)
    covered = {name: value for name, value in primary.items() if name in table.metrics}
    specs = {name: tasks[name].spec for name in covered}
    gains = per_task_gain(covered, table, specs) if covered else {}
    return GainSummary(
        baseline=table.name,
        source=table.source,
        dataset=table.dataset,
        values={name: float(table.metrics[name]) for name in covered},
        gains=gains,
        dm=sum(gains.values()) / len(gains) if gains else None,
        missing=[name for name in metrics if name not in covered],
    )

"""The end-of-run table: each task's metrics at the start and the end of training."""

from __future__ import annotations

from collections.abc import Mapping

from rich.table import Table

from sak_core.plugin.lookup import get_task_spec


DISTILL = "distill"  # the scores of the distillation (stage 1): distill/loss, distill/TEACHER/SCORE


def _direction(task: str, metric: str) -> bool | None:
    """True when higher is better for ``task/metric``; None when unknown."""
    if task == DISTILL:
        return False if metric == "loss" else True if metric.endswith("cosine") else None
    try:
        spec = get_task_spec(task)
    except Exception:  # a task whose plugin is gone: no arrows
        return None
    return spec.higher_is_better if metric == spec.metric_name else None


def improved_tasks(start: Mapping[str, float], end: Mapping[str, float], tasks: list[str]) -> dict[str, bool]:
    """Task -> whether its primary metric got better from ``start`` to ``end`` (the
    distillation's scores, under ``distill/``, are not a task: see :func:`improved_teachers`)."""
    out = {}
    for task in tasks:
        if task == DISTILL:
            continue
        spec = get_task_spec(task)
        key = f"{task}/{spec.metric_name}"
        if key in start and key in end:
            out[task] = end[key] > start[key] if spec.higher_is_better else end[key] < start[key]
    return out


def improved_teachers(start: Mapping[str, float], end: Mapping[str, float]) -> dict[str, bool]:
    """Teacher -> whether the student's centred cosine to it (``distill/TEACHER/centred_cosine``,
    a stage-1 validation score) got higher from ``start`` to ``end``."""
    suffix = "/centred_cosine"
    out = {}
    for key in end:
        task, _, metric = key.partition("/")
        if task == DISTILL and metric.endswith(suffix) and metric.count("/") == 1 and key in start:
            out[metric.removesuffix(suffix)] = end[key] > start[key]
    return out


def scores_table(start: Mapping[str, float], end: Mapping[str, float], title: str,
                 start_label: str = "start", end_label: str = "end", primary_only: bool = True) -> Table:
    """One row per ``task/metric`` with both values (only each task's primary metric unless
    ``primary_only`` is False); primary metrics get an arrow and a better/not-better mark. The
    distillation's rows (``distill/...``) are its loss and each teacher's mean cosine and
    centred cosine (and each tap level's too unless ``primary_only``)."""
    table = Table(title=title)
    for col in ("task", "metric", start_label, end_label, ""):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for key in sorted(set(start) | set(end)):
        if key == "score":
            continue
        task, _, metric = key.partition("/")
        higher = _direction(task, metric)
        if primary_only and (higher is None and task != DISTILL or task == DISTILL and "/level" in metric):
            continue
        arrow = "" if higher is None else (" ↑" if higher else " ↓")
        if end.get(f"{task}/approximate") or start.get(f"{task}/approximate"):
            arrow += " (approx.)"  # a fast training-time estimate; `sak eval` gives the protocol value
        mark = ""
        if higher is not None and key in start and key in end:
            better = end[key] > start[key] if higher else end[key] < start[key]
            mark = "[green]better[/green]" if better else "[red]not better[/red]"
        fmt = lambda d: f"{d[key]:.4f}" if key in d else "-"  # noqa: E731
        table.add_row(task, metric + arrow, fmt(start), fmt(end), mark)
    return table

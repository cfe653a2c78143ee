"""Presenting evaluation results: the rich table of ``sak eval`` and the ``metrics.json`` file."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rich.table import Table

from sak_core.errors import SakError
from sak_core.evaluation.scoring import EvalResult, GainSummary
from sak_core.run.layout import LIMITED_METRICS_FILE, METRICS_FILE
from sak_core.runtime.files import atomic_write_text, write_failure
from sak_core.plugin.tasks import Task

FORMAT_VERSION = 1


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}" if abs(value) < 1 else f"{value:.2f}"


def results_table(
    result: EvalResult,
    tasks: Mapping[str, Task],
    gain: GainSummary | None = None,
    title: str = "",
    all_metrics: bool = False,
) -> Table:
    """One row per task: primary metric (with its direction), value, baseline and relative
    change; a last row with dm. ``all_metrics`` adds a dim row per secondary score."""
    table = Table(title=title or None)
    for column, justify in (("task", "left"), ("metric", "left"), ("value", "right"),
                            ("baseline", "right"), ("delta %", "right")):
        table.add_column(column, justify=justify)
    for name, scores in result.metrics.items():
        spec = tasks[name].spec
        key = spec.metric_name
        arrow = "↑" if spec.higher_is_better else "↓"
        base = gain.values.get(name) if gain else None
        delta = gain.gains.get(name) if gain else None
        delta_text = "-" if delta is None else f"[{'green' if delta >= 0 else 'red'}]{delta:+.2f}[/]"
        table.add_row(name, f"{key} {arrow}", _fmt(scores.get(key)), _fmt(base), delta_text)
        if all_metrics:
            for other, value in scores.items():
                if other != key:
                    table.add_row("", f"[dim]{other}[/]", f"[dim]{_fmt(value)}[/]", "", "")
    if gain is not None:
        dm = "-" if gain.dm is None else f"[bold {'green' if gain.dm >= 0 else 'red'}]{gain.dm:+.2f}[/]"
        table.add_section()
        table.add_row("dm", f"vs {gain.baseline}", "", "", dm)
    return table


def metrics_document(
    result: EvalResult,
    tasks: Mapping[str, Task],
    gain: GainSummary | None = None,
    **context: Any,
) -> dict[str, Any]:
    """The JSON-serialisable record written to ``metrics.json``.

    Keys: ``format``, the ``context`` given (checkpoint, dataset, split, ...), ``num_images``,
    ``protocol``, ``metric_options`` (task -> options of its protocol metric, e.g. the boundary
    matching), ``metrics`` (task -> all scores), ``primary`` (task -> metric name, value and
    direction), ``baseline`` / ``gains`` / ``dm`` (null without a baseline table), and
    ``distillation`` (null unless scored against teachers, as a stage-1 student is):
    ``{"loss", "teachers": {teacher: {"cosine", "centred_cosine", "levels": [{"cosine",
    "centred_cosine"}, ...]}}}``, the teacher's values the means over its tap levels.
    """
    primary = {}
    for name, scores in result.metrics.items():
        spec = tasks[name].spec
        primary[name] = {
            "metric": spec.metric_name,
            "value": _json_number(scores.get(spec.metric_name)),
            "higher_is_better": spec.higher_is_better,
        }
    return {
        "format": FORMAT_VERSION,
        **context,
        "num_images": result.num_images,
        "protocol": result.protocol,
        "metric_options": result.metric_options,
        "seconds": round(result.seconds, 3),
        "metrics": {t: {k: _json_number(v) for k, v in s.items()} for t, s in result.metrics.items()},
        "primary": primary,
        "baseline": None
        if gain is None
        else {"name": gain.baseline, "source": gain.source, "metrics": gain.values, "missing": gain.missing},
        "gains": None if gain is None else gain.gains,
        "dm": None if gain is None else gain.dm,
        "distillation": distillation_document(result),
    }


def datasets_document(documents: Mapping[str, Mapping[str, Any]], **context: Any) -> dict[str, Any]:
    """The ``metrics.json`` of a run with several datasets: ``format``, the ``context`` given
    (checkpoint, split, ...), ``num_images`` (all datasets'), ``datasets`` (dataset key -> that
    dataset's :func:`metrics_document`, what ``sak eval --dataset KEY`` writes), ``dm`` (the mean
    of the datasets' dm, null when none has one) and ``dm_datasets`` (the keys it averages)."""
    with_dm = {key: doc["dm"] for key, doc in documents.items() if doc.get("dm") is not None}
    return {
        "format": FORMAT_VERSION,
        **context,
        "num_images": sum(int(doc.get("num_images") or 0) for doc in documents.values()),
        "datasets": {key: dict(doc) for key, doc in documents.items()},
        "dm": sum(with_dm.values()) / len(with_dm) if with_dm else None,
        "dm_datasets": list(with_dm),
    }


def _levels(scores: Mapping[str, float]) -> list[dict[str, float]]:
    """``[{"cosine", "centred_cosine"}, ...]`` per tap level from a teacher's alignment scores."""
    levels: dict[int, dict[str, float]] = {}
    for key, value in scores.items():
        level, sep, score = key.partition("/")
        if sep:
            levels.setdefault(int(level.removeprefix("level")), {})[score] = value
    return [levels[level] for level in sorted(levels)]


def distillation_document(result: EvalResult) -> dict[str, Any] | None:
    """The ``distillation`` entry of :func:`metrics_document` (None without teacher scores)."""
    if result.distill_loss is None and not result.alignment:
        return None
    teachers = {
        name: {**{key: _json_number(scores.get(key)) for key in ("cosine", "centred_cosine")},
               "levels": [{k: _json_number(v) for k, v in level.items()} for level in _levels(scores)]}
        for name, scores in result.alignment.items()
    }
    return {"loss": _json_number(result.distill_loss), "teachers": teachers}


def alignment_table(result: EvalResult, title: str = "") -> Table:
    """``sak eval`` of a stage-1 student: one row per teacher (its means over tap levels) and a
    dim row per level, with the cosine to the teacher's features and the centred cosine."""
    table = Table(title=title or None)
    for column, justify in (("teacher", "left"), ("level", "left"), ("cosine ↑", "right"),
                            ("centred cosine ↑", "right")):
        table.add_column(column, justify=justify)
    for name, scores in result.alignment.items():
        table.add_row(name, "mean", _fmt(scores.get("cosine")), _fmt(scores.get("centred_cosine")))
        for level, values in enumerate(_levels(scores)):
            table.add_row("", f"[dim]{level}[/]", f"[dim]{_fmt(values.get('cosine'))}[/]",
                          f"[dim]{_fmt(values.get('centred_cosine'))}[/]")
    if result.distill_loss is not None:
        table.add_section()
        table.add_row("loss", "", _fmt(result.distill_loss), "")
    return table


def _json_number(value: float | None) -> float | None:
    """NaN and infinities become null (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def metrics_path(checkpoint: Path, out: str | Path | None = None, limited: bool = False,
                 folder: Path | None = None) -> Path:
    """Where ``metrics.json`` goes: ``out`` (a ``.json`` file, or a folder to hold
    ``metrics.json``), else in ``folder`` (a run's ``RunContext.results_folder()``), else beside
    the checkpoint. A ``limited`` score (``--limit``, a quick look) goes beside it as
    ``metrics.limited.json``, so it never replaces the full result."""
    if out is None:
        return (folder or checkpoint.parent) / (LIMITED_METRICS_FILE if limited else METRICS_FILE)
    out = Path(out)
    return out if out.suffix == ".json" else out / METRICS_FILE


def write_metrics(document: Mapping[str, Any], path: str | Path) -> Path:
    """Write ``document`` as indented JSON, atomically; a path that cannot be written (a folder,
    a file in the way of its folder) is a :class:`~sak_core.errors.SakError` naming it."""
    try:
        return atomic_write_text(path, json.dumps(document, indent=2, allow_nan=False) + "\n")
    except OSError as exc:
        raise SakError(f"cannot write the metrics to {path} ({write_failure(exc)}); choose another --out") from None

"""Multi-task gain (dm): the mean relative change of each task's primary metric over a baseline.

``dm = (1/T) * sum_t (-1)^{l_t} * (M_t - M_base,t) / M_base,t * 100``, where ``l_t`` is 1 when
the task's metric is lower-is-better. The direction and the primary metric's name come from each
task's :class:`~sak_core.plugin.specs.TaskSpec`; baselines are named tables shipped in
``sak_core/baselines/*.yaml`` or any YAML file of the same shape.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sak_core.errors import SpecError
from sak_core.plugin.specs import TaskSpec
from sak_core.runtime.files import read_text

BASELINE_PACKAGE = "sak_core.baselines"


@dataclass(frozen=True)
class BaselineTable:
    """Single-task baseline scores: task name -> primary metric value."""

    name: str
    metrics: Mapping[str, float]
    dataset: str = ""
    backbone: str = ""
    source: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def list_baselines() -> list[str]:
    """Names of the baseline tables shipped with sak-core."""
    folder = resources.files(BASELINE_PACKAGE)
    return sorted(p.name[: -len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_baseline(name_or_path: str | os.PathLike) -> BaselineTable:
    """A shipped table by name (see :func:`list_baselines`) or a YAML file by path.

    The file holds ``name``, ``metrics`` (task -> value) and optionally ``dataset``,
    ``backbone`` and ``source``.
    """
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} or path.exists():
        if not path.is_file():
            raise SpecError(f"baseline table file '{path}' does not exist")
        text = read_text(path)  # not UTF-8: an error naming the file
    else:
        resource = resources.files(BASELINE_PACKAGE) / f"{name_or_path}.yaml"
        if not resource.is_file():
            raise SpecError(
                f"unknown baseline table '{name_or_path}'. Shipped tables: "
                f"{', '.join(list_baselines())}; or pass the path of a YAML file with 'metrics'"
            )
        text = resource.read_text()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecError(f"baseline table '{name_or_path}' is not valid YAML ({first}): fix the file") from None
    metrics = data.get("metrics") if isinstance(data, Mapping) else None
    if not isinstance(metrics, Mapping) or not metrics:
        raise SpecError(f"baseline table '{name_or_path}' has no 'metrics' mapping (task: value)")
    not_numbers = [str(k) for k, v in metrics.items() if not _is_number(v)]
    if not_numbers:
        raise SpecError(f"baseline table '{name_or_path}': the metric of {', '.join(not_numbers)} is not a number; "
                        "give each task's value as a number (task: value)")
    known = {"name", "metrics", "dataset", "backbone", "source"}
    return BaselineTable(
        name=str(data.get("name", path.stem)),
        metrics={str(k): float(v) for k, v in metrics.items()},
        dataset=str(data.get("dataset", "")),
        backbone=str(data.get("backbone", "")),
        source=str(data.get("source", "")),
        extra={k: v for k, v in data.items() if k not in known},
    )


def _primary(value: float | Mapping[str, float], spec: TaskSpec) -> float:
    if isinstance(value, Mapping):
        if spec.metric_name not in value:
            raise SpecError(
                f"scores of task '{spec.name}' lack its primary metric '{spec.metric_name}' "
                f"(have: {', '.join(value)})"
            )
        return float(value[spec.metric_name])
    return float(value)


def per_task_gain(
    metrics: Mapping[str, float | Mapping[str, float]],
    baseline: BaselineTable | Mapping[str, float],
    tasks: Mapping[str, TaskSpec] | None = None,
) -> dict[str, float]:
    """Signed relative change in percent per task (positive = better than the baseline).

    ``metrics`` maps task name to its primary metric value, or to the task's whole score dict
    (the primary metric is picked by the spec's ``metric_name``). ``tasks`` maps task name to
    its spec; by default specs come from the installed plugins.
    """
    table = baseline.metrics if isinstance(baseline, BaselineTable) else baseline
    gains: dict[str, float] = {}
    for name, value in metrics.items():
        spec = tasks[name] if tasks is not None and name in tasks else _registered_spec(name)
        if name not in table:
            raise SpecError(
                f"the baseline table has no entry for task '{name}' (it has: {', '.join(table)}): "
                "score only the tasks it covers, or use a table that includes this one"
            )
        reference = float(table[name])
        if reference == 0:
            raise SpecError(f"baseline of task '{name}' is 0; a relative gain is undefined")
        change = (_primary(value, spec) - reference) / reference * 100.0
        gains[name] = change if spec.higher_is_better else -change
    return gains


def multitask_gain(
    metrics: Mapping[str, float | Mapping[str, float]],
    baseline: BaselineTable | Mapping[str, float] | str | os.PathLike,
    tasks: Mapping[str, TaskSpec] | None = None,
) -> float:
    """dm in percent over the tasks in ``metrics``; ``baseline`` is a table, a mapping, or a
    table name / path for :func:`load_baseline`."""
    if isinstance(baseline, (str, os.PathLike)):
        baseline = load_baseline(baseline)
    gains = per_task_gain(metrics, baseline, tasks)
    if not gains:
        raise SpecError("multitask_gain needs the scores of at least one task")
    return sum(gains.values()) / len(gains)


def _registered_spec(name: str) -> TaskSpec:
    from sak_core.plugin.lookup import get_task_spec

    return get_task_spec(name)


def _is_number(value: Any) -> bool:
    """True for a number, or text that is one (``"51.2"``); a YAML boolean is not."""
    if isinstance(value, bool):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True

"""The public Python API, in the style of timm: list and create by registry name."""

from __future__ import annotations

import fnmatch
from typing import Any

from sak_core.config import split_variant  # noqa: F401 - part of this module's API: NAME[:VARIANT] parsed
from sak_core.plugin.registry import get_registry
from sak_core.plugin.specs import DatasetSpec, TaskSpec, TeacherSpec


def _filter(names: list[str], pattern: str) -> list[str]:
    return [n for n in names if fnmatch.fnmatch(n, pattern)]


def list_teachers(pattern: str = "*") -> list[str]:
    """Names of installed teachers matching ``pattern`` (fnmatch style)."""
    return _filter(get_registry().names("teacher"), pattern)


def list_tasks(pattern: str = "*") -> list[str]:
    """Names of installed tasks matching ``pattern``."""
    return _filter(get_registry().names("task"), pattern)


def list_datasets(pattern: str = "*") -> list[str]:
    """Names of installed datasets matching ``pattern``."""
    return _filter(get_registry().names("dataset"), pattern)


def get_teacher_spec(name: str, **options: Any) -> TeacherSpec:
    """The spec of teacher ``name`` (``NAME`` or ``NAME:VARIANT``) with ``options`` applied."""
    base, extra = split_variant(name)
    spec: TeacherSpec = get_registry().get("teacher", base).spec
    return spec.with_options(**extra, **options)


def get_task_spec(name: str) -> TaskSpec:
    """The spec of task ``name``."""
    return get_registry().get("task", name).spec


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec of dataset ``name``."""
    return get_registry().get("dataset", name).spec


def create_teacher(name: str, **options: Any):
    """Build the frozen teacher ``name`` (``NAME`` or ``NAME:VARIANT``), e.g.
    ``create_teacher("teacher_a:small", weights="random")``."""
    base, extra = split_variant(name)
    spec: TeacherSpec = get_registry().get("teacher", base).spec
    return spec.create(**extra, **options)


def create_task(name: str, dataset: str | DatasetSpec):
    """Task ``name`` bound to ``dataset`` (a registered name or a :class:`DatasetSpec`)."""
    dataset_spec = get_dataset_spec(dataset) if isinstance(dataset, str) else dataset
    return get_task_spec(name).create(dataset_spec)

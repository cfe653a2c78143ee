"""Assemble a student from a run config and the installed plugins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from sak_core.model.mixture import (  # noqa: F401 - resolve_tasks, label_keys, build_dataset: their 0.1 home
    build_dataset,
    describe_all,
    head_outputs,
    label_keys,
    resolve_tasks,
    run_datasets,
    student_size,
)
from sak_core.plugin.lookup import get_task_spec, get_teacher_spec
from sak_core.config import RunConfig
from sak_core.errors import ConfigError
from sak_core.model import SAKStudent, StudentConfig
from sak_core.plugin.registry import get_registry
from sak_core.plugin.specs import LABEL_MASK, label_mask


def teacher_options(entry: Any) -> dict[str, Any]:
    """The options a :class:`~sak_core.config.TeacherEntry` passes to its teacher."""
    options = dict(entry.options)
    if entry.weights is not None:
        options["weights"] = entry.weights
    return options


def student_config(config: RunConfig) -> StudentConfig:
    """Resolve teacher widths and task outputs from the plugins into a :class:`StudentConfig`.

    The model section is validated with the run config, so what can still fail here is what the
    plugins bring in; it fails as a :class:`~sak_core.errors.ConfigError`.
    """
    datasets = run_datasets(config)
    teachers = {}
    for entry in config.teachers:
        spec = get_teacher_spec(entry.name, **teacher_options(entry))
        teachers[entry.name] = spec.feature_dim if isinstance(spec.feature_dim, int) else list(spec.feature_dim)
    tasks = head_outputs(resolve_tasks(config, datasets), datasets)
    try:
        return StudentConfig(
            **config.model.model_dump(),
            input_size=student_size(config, datasets),
            teachers=teachers,
            tasks=tasks,
        )
    except ValidationError as exc:
        problems = "; ".join(err["msg"] for err in exc.errors())
        raise ConfigError(
            f"{describe_all(datasets)} with teachers {list(teachers) or 'none'} and tasks {list(tasks) or 'none'} "
            f"give no valid student: {problems}"
        ) from None


def create_student(config: StudentConfig | RunConfig | dict[str, Any]) -> SAKStudent:
    """Build a student from a :class:`StudentConfig` (or a dict of one) or a whole
    :class:`RunConfig` (teacher widths and task outputs then come from the plugins)."""
    if isinstance(config, RunConfig):
        student = SAKStudent(student_config(config))
        check_teacher_levels(config, student)
        return student
    if isinstance(config, dict):
        config = StudentConfig.model_validate(config)
    return SAKStudent(config)


def check_teacher_levels(config: RunConfig, student: SAKStudent) -> None:
    """A :class:`~sak_core.errors.ConfigError` before any step when a teacher of ``config`` gives
    a number of feature levels (``spec.levels``) other than the student's taps, naming both
    counts and the two ways to make them agree."""
    taps = list(student.tap_indices)
    for entry in config.teachers:
        spec = get_teacher_spec(entry.name, **teacher_options(entry))
        if spec.levels != len(taps):
            raise ConfigError(
                f"teacher '{entry.name}' gives {spec.levels} feature level(s) but the student taps {len(taps)} "
                f"stem blocks {taps}: set model.tap_indices to {spec.levels} block(s) of the stem "
                f"(e.g. {taps[-spec.levels:] if spec.levels <= len(taps) else '...'}), or configure the teacher "
                f"to give {len(taps)} levels"
            )


def add_derived_targets(batch: dict[str, Any], task_names: list[str]) -> dict[str, Any]:
    """Fill in the targets of tasks whose spec derives them from other batch entries (present in
    the batch); a derived target has a sample's label where all its sources do (``label_mask``)."""
    for name in task_names:
        spec = get_task_spec(name)
        if name in batch or spec.derive_target is None or not all(k in batch for k in spec.requires):
            continue
        batch[name] = spec.derive_target(batch)
        masks = [m for m in (label_mask(batch, k) for k in spec.requires) if m is not None]
        if masks:
            combined = masks[0]
            for mask in masks[1:]:
                combined = combined & mask
            batch[LABEL_MASK] = {**batch.get(LABEL_MASK, {}), name: combined}
    return batch

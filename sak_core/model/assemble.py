"""Assemble a student from a run config and the installed plugins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from sak_core.plugin.lookup import get_dataset_spec, get_task_spec, get_teacher_spec
from sak_core.config import RunConfig
from sak_core.errors import ConfigError
from sak_core.model import SAKStudent, StudentConfig
from sak_core.plugin.registry import get_registry
from sak_core.plugin.specs import DatasetSpec


def teacher_options(entry: Any) -> dict[str, Any]:
    """The options a :class:`~sak_core.config.TeacherEntry` passes to its teacher."""
    options = dict(entry.options)
    if entry.weights is not None:
        options["weights"] = entry.weights
    return options


def resolve_tasks(config: RunConfig) -> list[str]:
    """The run's task names; ``"all"`` = every installed task the dataset has labels for."""
    if config.stage == 1:
        return []
    if not config.tasks:
        raise ConfigError("stage 2 trains tasks, but the task list is empty: name them (--tasks semseg,depth), "
                          "pass --tasks all, or train --stage 1 (distillation only)")
    dataset = get_dataset_spec(config.data.dataset)
    installed = get_registry().names("task")
    if config.tasks == "all":
        tasks = [t for t in dataset.tasks if t in installed]
        tasks += [t for t in installed if t not in tasks and get_task_spec(t).supported_by(dataset)]
        if not tasks:
            raise ConfigError(
                f"dataset '{dataset.name}' has labels for {sorted(dataset.tasks) or 'no task'} but none "
                f"of them is installed (installed tasks: {installed or 'none'})"
            )
        return tasks
    for name in config.tasks:
        spec = get_task_spec(name)  # unknown names fail with the installed list
        if not spec.supported_by(dataset):
            needs = f" (its targets derive from {list(spec.requires)})" if spec.derive_target else ""
            raise ConfigError(
                f"dataset '{dataset.name}' has no labels for task '{name}'{needs}; it has {sorted(dataset.tasks)}"
            )
    return list(config.tasks)


def student_config(config: RunConfig) -> StudentConfig:
    """Resolve teacher widths and task outputs from the plugins into a :class:`StudentConfig`.

    The model section is validated with the run config, so what can still fail here is what the
    plugins bring in; it fails as a :class:`~sak_core.errors.ConfigError`.
    """
    dataset = get_dataset_spec(config.data.dataset)
    teachers = {}
    for entry in config.teachers:
        spec = get_teacher_spec(entry.name, **teacher_options(entry))
        teachers[entry.name] = spec.feature_dim if isinstance(spec.feature_dim, int) else list(spec.feature_dim)
    tasks = {name: get_task_spec(name).num_outputs(dataset) for name in resolve_tasks(config)}
    try:
        return StudentConfig(
            **config.model.model_dump(),
            input_size=config.data.input_size or dataset.input_size,
            teachers=teachers,
            tasks=tasks,
        )
    except ValidationError as exc:
        problems = "; ".join(err["msg"] for err in exc.errors())
        raise ConfigError(
            f"dataset '{dataset.name}' with teachers {list(teachers) or 'none'} and tasks {list(tasks) or 'none'} "
            f"gives no valid student: {problems}"
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
    """Fill in the targets of tasks whose spec derives them from other batch entries."""
    for name in task_names:
        spec = get_task_spec(name)
        if name not in batch and spec.derive_target is not None:
            batch[name] = spec.derive_target(batch)
    return batch


def label_keys(dataset: DatasetSpec, task_names: list[str]) -> list[str]:
    """The labels to ask ``dataset`` for: each task's own, or what a derived task requires."""
    keys: list[str] = []
    for name in task_names:
        needed = [name] if name in dataset.tasks else list(get_task_spec(name).requires)
        keys += [k for k in needed if k not in keys]
    return keys


def build_dataset(
    dataset: DatasetSpec,
    split: str,
    tasks: Sequence[str],
    train: bool = False,
    input_size: Sequence[int] | None = None,
    root: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> Any:
    """``dataset``'s ``split`` (see :meth:`DatasetSpec.create`) loading the labels ``tasks``
    need: each task's own, or the ones a derived task is computed from."""
    labels = label_keys(dataset, list(tasks))
    return dataset.create(split, train, root, input_size, tasks=labels, **dict(options or {}))

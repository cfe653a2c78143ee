"""Bind the installed task plugins to a student's heads (for scoring, prediction and analysis)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sak_core.model.mixture import task_of_head
from sak_core.plugin.lookup import get_task_spec
from sak_core.errors import MissingPluginError, SpecError, UnknownNameError
from sak_core.plugin.registry import get_registry
from sak_core.plugin.specs import DatasetSpec

if TYPE_CHECKING:
    from sak_core.run.context import RunContext
    from sak_core.model import SAKStudent
    from sak_core.plugin.tasks import Task


def student_dataset_spec(student: SAKStudent, heads: Iterable[str] | None = None) -> DatasetSpec:
    """A stand-in dataset spec for binding tasks to a student without a dataset: it declares the
    output count of each head of ``heads`` (default: all), under its task's name (a ``TASK@KEY``
    head as ``TASK``), and nothing else (ImageNet mean/std)."""

    def no_data(*args: Any, **kwargs: Any) -> Any:
        raise SpecError("this dataset spec only describes a checkpoint's heads; it holds no data")

    return DatasetSpec(
        name="checkpoint",
        factory=no_data,
        tasks={task_of_head(name): {"num_outputs": student.config.tasks[name]}
               for name in (student.task_names if heads is None else heads)},
        input_size=tuple(student.config.input_size),
        description="the heads of a student checkpoint",
    )


def require_task_heads(student: SAKStudent) -> None:
    """Refuse a student without task heads (a stage-1 checkpoint) with what to do instead."""
    if not student.task_names:
        raise SpecError(
            "this student has no task heads (a stage-1 checkpoint?): train stage 2 from it first, "
            "e.g. sak train --preset paper-pascal --init RUN"
        )


def bind_tasks(
    student: SAKStudent,
    dataset: DatasetSpec | None = None,
    names: Iterable[str] | None = None,
    context: RunContext | None = None,
) -> dict[str, Task]:
    """The installed task plugins bound to ``dataset`` for the student's heads (all of them, or
    ``names``), in head order.

    Raises :class:`MissingPluginError` naming the task (and, from the run's ``plugins.json``,
    the distribution that provided it) when a plugin is not installed, and
    :class:`~sak_core.errors.SpecError` when a head's width differs from what the task expects
    on ``dataset``.
    """
    require_task_heads(student)
    wanted = list(student.task_names if names is None else names)
    tasks: dict[str, Task] = {}
    for name in wanted:
        if name not in student.config.tasks:
            raise SpecError(f"the student has no head for task '{name}'; it has {student.task_names}")
        try:
            spec = get_task_spec(task_of_head(name))  # a head of one dataset, TASK@KEY, is TASK's
        except UnknownNameError:
            origin = context.distribution_of("task", name) if context is not None else None
            hint = (
                f"install '{origin}' (the run was trained with it)"
                if origin
                else "install the task plugin that provides it"
            )
            installed = ", ".join(get_registry().names("task")) or "none"
            raise MissingPluginError(
                f"the student has a head for task '{name}' but no installed plugin provides that "
                f"task (installed tasks: {installed}): {hint}, then run `sak plugins` to check"
            ) from None
        on = dataset or student_dataset_spec(student, [name])
        task = spec.create(on)
        expected = int(student.config.tasks[name])
        if task.num_outputs != expected:
            raise SpecError(
                f"task '{name}' on dataset '{on.name}' has {task.num_outputs} outputs but the "
                f"student's head has {expected}: evaluate on the dataset the student was trained for"
            )
        tasks[name] = task
    return tasks


def supported_tasks(student: SAKStudent, dataset: DatasetSpec) -> tuple[list[str], list[str]]:
    """(tasks of the student that ``dataset`` has labels for or can derive, tasks it cannot)."""
    scored, skipped = [], []
    for name in student.task_names:
        supported = task_of_head(name) in dataset.tasks
        if not supported:
            try:
                supported = get_task_spec(task_of_head(name)).supported_by(dataset)
            except UnknownNameError:
                supported = False
        (scored if supported else skipped).append(name)
    return scored, skipped

"""The pluggy hooks a sak plugin implements; their docstrings are the plugin documentation."""

from __future__ import annotations

from collections.abc import Callable

import pluggy

PROJECT_NAME = "sak"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def sak_register_teachers(register: Callable) -> None:
    """Register teachers: call ``register(TeacherSpec(...))`` once per teacher.

    Entry-point group: ``sak.teachers``.
    """


@hookspec
def sak_register_tasks(register: Callable) -> None:
    """Register tasks: call ``register(TaskSpec(...))`` once per task.

    Entry-point group: ``sak.tasks``.
    """


@hookspec
def sak_register_datasets(register: Callable) -> None:
    """Register datasets: call ``register(DatasetSpec(...))`` once per dataset.

    Entry-point group: ``sak.datasets``.
    """

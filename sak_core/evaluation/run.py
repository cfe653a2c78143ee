"""What evaluation and inference need from a run: the checkpoint, its config, tasks and data.

``sak eval``, ``sak predict`` and ``sak analyze`` take a run directory or a checkpoint file. A
:class:`RunContext` finds the weights, the run's ``config.yaml`` (for the default dataset, data
root and dataset options) and ``plugins.json`` (to name the plugin a missing task came from).
Neither teachers nor a training setup are needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from sak_core.assemble import label_keys
from sak_core.checkpoint import load_student, resolve_checkpoint
from sak_core.config import RunConfig, load_config
from sak_core.errors import ConfigError, SakError, SpecError, UnknownNameError
from sak_core.model import SAKStudent
from sak_core.runtime import resolve_device  # noqa: F401  (part of sak_core.evaluation)
from sak_core.specs import DatasetSpec
from sak_core.tasks import Task

CONFIG_FILE = "config.yaml"
PLUGINS_FILE = "plugins.json"
_RUN_DIR_DEPTH = 3  # RUN/checkpoints/last/model.safetensors is three levels below RUN


class MissingPluginError(SakError):
    """A student head whose task no installed plugin provides."""


@dataclass
class RunContext:
    """A checkpoint and, when it belongs to a sak run, the run's directory and configuration.

    Attributes:
        checkpoint: the ``.safetensors`` weights file.
        run_dir: the run directory holding ``config.yaml`` (None for a bare checkpoint).
        config: the run's resolved :class:`~sak_core.config.RunConfig` (None when absent).
        plugins: the entries of the run's ``plugins.json`` (which distribution provided what).
        notes: things the user should know (an unreadable config, ...).
    """

    checkpoint: Path
    run_dir: Path | None = None
    config: RunConfig | None = None
    plugins: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, run_or_checkpoint: str | Path) -> RunContext:
        """Resolve a run directory or a checkpoint file (``RUN/best/model.safetensors`` also
        finds ``RUN/config.yaml``)."""
        checkpoint = resolve_checkpoint(run_or_checkpoint)
        context = cls(checkpoint=checkpoint)
        for folder in list(checkpoint.parents)[:_RUN_DIR_DEPTH]:
            if (folder / CONFIG_FILE).is_file():
                context.run_dir = folder
                break
        if context.run_dir is None:
            return context
        try:
            context.config = load_config(context.run_dir / CONFIG_FILE)
        except ConfigError as exc:
            context.notes.append(f"ignoring {context.run_dir / CONFIG_FILE}: {exc}")
        plugins_file = context.run_dir / PLUGINS_FILE
        if plugins_file.is_file():
            try:
                entries = json.loads(plugins_file.read_text())
                context.plugins = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
            except (OSError, json.JSONDecodeError) as exc:
                context.notes.append(f"ignoring {plugins_file}: {exc}")
        return context

    def load_student(self, device: str | torch.device = "cpu") -> SAKStudent:
        """The student in eval mode on ``device``."""
        student = load_student(self.checkpoint, map_location="cpu")
        return student.to(device).eval()

    def dataset_name(self, override: str | None = None) -> str | None:
        """``override``, else the run's dataset, else None."""
        if override:
            return override
        return self.config.data.dataset if self.config is not None else None

    def data_root(self, dataset: str, override: str | None = None) -> str | None:
        """``override``, else the run's data root when ``dataset`` is the run's dataset."""
        if override:
            return override
        if self.config is not None and self.config.data.dataset == dataset:
            return self.config.data.root
        return None

    def dataset_options(self, dataset: str) -> dict[str, Any]:
        """The run's dataset options (``data.options``) when ``dataset`` is the run's dataset."""
        if self.config is not None and self.config.data.dataset == dataset:
            return dict(self.config.data.options)
        return {}

    def distribution_of(self, kind: str, name: str) -> str | None:
        """The distribution that provided ``kind`` ``name`` when the run was trained."""
        for entry in self.plugins:
            if entry.get("kind") == kind and entry.get("name") == name:
                return entry.get("distribution")
        return None


def student_dataset_spec(student: SAKStudent) -> DatasetSpec:
    """A stand-in dataset spec for binding tasks to a student without a dataset: it declares
    each head's output count and nothing else (ImageNet mean/std)."""

    def no_data(*args: Any, **kwargs: Any) -> Any:
        raise SpecError("this dataset spec only describes a checkpoint's heads; it holds no data")

    return DatasetSpec(
        name="checkpoint",
        factory=no_data,
        tasks={name: {"num_outputs": n} for name, n in student.config.tasks.items()},
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
    from sak_core.api import get_task_spec
    from sak_core.plugins import get_registry

    require_task_heads(student)
    dataset = dataset or student_dataset_spec(student)
    wanted = list(student.task_names if names is None else names)
    tasks: dict[str, Task] = {}
    for name in wanted:
        if name not in student.config.tasks:
            raise SpecError(f"the student has no head for task '{name}'; it has {student.task_names}")
        try:
            spec = get_task_spec(name)
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
        task = spec.create(dataset)
        expected = int(student.config.tasks[name])
        if task.num_outputs != expected:
            raise SpecError(
                f"task '{name}' on dataset '{dataset.name}' has {task.num_outputs} outputs but the "
                f"student's head has {expected}: evaluate on the dataset the student was trained for"
            )
        tasks[name] = task
    return tasks


def supported_tasks(student: SAKStudent, dataset: DatasetSpec) -> tuple[list[str], list[str]]:
    """(tasks of the student that ``dataset`` has labels for or can derive, tasks it cannot)."""
    from sak_core.api import get_task_spec

    scored, skipped = [], []
    for name in student.task_names:
        supported = name in dataset.tasks
        if not supported:
            try:
                supported = get_task_spec(name).supported_by(dataset)
            except UnknownNameError:
                supported = False
        (scored if supported else skipped).append(name)
    return scored, skipped


def build_dataset(
    dataset: DatasetSpec,
    split: str,
    input_size: Sequence[int],
    tasks: Sequence[str],
    root: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> torch.utils.data.Dataset:
    """The test-time (normalise + pad) dataset of ``split`` with labels for ``tasks``."""
    if dataset.splits and split not in dataset.splits:
        raise SpecError(f"dataset '{dataset.name}' has no split '{split}'; it has {', '.join(dataset.splits)}")
    return dataset.factory(
        root,
        split,
        train=False,
        input_size=tuple(input_size),
        tasks=label_keys(dataset, list(tasks)),
        **dict(options or {}),
    )


"""The datasets of a run resolved against the installed plugins, and the run's tasks as the union
of what they label (docs/datasets.md#mixing).

A run lists one dataset (``data.dataset``) or several (``data.datasets``). Each becomes a
:class:`RunDataset`: its key (alias, else name), its spec narrowed to the ``labels`` option, its
root, factory options, weight and training size. Every other part of sak asks these for what a
dataset labels, rather than reading the config.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sak_core.config import DatasetEntry, RunConfig
from sak_core.errors import ConfigError, SpecError
from sak_core.plugin.lookup import get_dataset_spec, get_task_spec
from sak_core.plugin.registry import get_registry
from sak_core.plugin.specs import DatasetSpec

LABELS_OPTION = "labels"  # the core's own option of every dataset: the tasks whose labels it serves


@dataclass(frozen=True)
class RunDataset:
    """One dataset of a run.

    Attributes:
        key: the entry's alias, else the dataset's name; prefixes its metrics when a run has several.
        spec: the registered spec, narrowed to the entry's ``labels`` option.
        root: its folder (None: ``$SAK_DATA`` or the dataset's default).
        options: what its factory is given (``labels`` taken out, ``on_error`` from ``data.corrupt``).
        weight: how often its batches are drawn relative to the others (None: its share of samples).
        input_size: its training crop (H, W).
    """

    key: str
    spec: DatasetSpec
    root: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    weight: float | None = None
    input_size: tuple[int, int] = (512, 512)

    @property
    def name(self) -> str:
        return self.spec.name

    def labels(self, task: str) -> bool:
        """Whether this dataset has targets for ``task`` (its own labels or what they derive from);
        a head of one dataset, ``TASK@KEY``, counts for that dataset only."""
        key = dataset_of_head(task)
        return (key is None or key == self.key) and get_task_spec(task_of_head(task)).supported_by(self.spec)

    def tasks_of(self, run_tasks: Sequence[str]) -> list[str]:
        """The tasks (or heads) of ``run_tasks`` this dataset has targets for, in the run's order."""
        return [t for t in run_tasks if self.labels(t)]

    def heads_of(self, heads: Sequence[str]) -> dict[str, str]:
        """Task -> the head of ``heads`` (a student's) that serves this dataset: ``TASK@KEY`` for
        its own, else a shared ``TASK`` head of a task it labels."""
        out: dict[str, str] = {}
        for head in heads:
            task, key = task_of_head(head), dataset_of_head(head)
            if key == self.key or (key is None and task not in out and self.labels(task)):
                out[task] = head
        return out

    def describe(self) -> str:
        """``"'nyud'"`` or ``"'synthetic' (alias synth-b)"``, for messages."""
        return f"'{self.name}'" + (f" (alias {self.key})" if self.key != self.name else "")


def resolve_dataset(entry: DatasetEntry, config: RunConfig) -> RunDataset:
    """``entry`` against the registry: the spec (an unknown name fails with the installed list)
    narrowed to its ``labels`` option."""
    spec = get_dataset_spec(entry.name)
    options = dict(entry.options)
    labels = options.pop(LABELS_OPTION, None)
    if labels is not None:
        try:
            spec = spec.with_labels(labels)
        except SpecError as exc:
            # the spec's message starts "dataset 'NAME'": the entry's own name (and where) replaces it
            reason = str(exc).removeprefix(f"dataset '{spec.name}'")
            raise ConfigError(f"{_entry_name(entry, config)}{reason}") from None
    if config.data.corrupt != "error":
        options.setdefault("on_error", config.data.corrupt)
    size = entry.input_size or config.data.input_size or spec.input_size
    return RunDataset(entry.key, spec, entry.root, options, entry.weight, tuple(size))  # type: ignore[arg-type]


def _entry_name(entry: DatasetEntry, config: RunConfig) -> str:
    where = "data.datasets" if config.data.datasets else "data.options"
    alias = f" (alias {entry.alias})" if entry.alias else ""
    return f"dataset '{entry.name}'{alias} in {where}"


def run_datasets(config: RunConfig) -> list[RunDataset]:
    """The run's datasets, in the config's order; several must normalise images alike (the
    teachers are fed one normalisation)."""
    datasets = [resolve_dataset(entry, config) for entry in config.data.entries()]
    first = datasets[0]
    for other in datasets[1:]:
        if (tuple(other.spec.mean), tuple(other.spec.std)) != (tuple(first.spec.mean), tuple(first.spec.std)):
            raise ConfigError(
                f"datasets {first.describe()} and {other.describe()} normalise images differently (mean/std "
                f"{first.spec.mean}/{first.spec.std} vs {other.spec.mean}/{other.spec.std}); one run feeds its "
                "student and teachers one normalisation: give both the same mean and std options"
            )
    return datasets


def resolve_tasks(config: RunConfig, datasets: Sequence[RunDataset] | None = None) -> list[str]:
    """The run's task names: the config's list, each labelled by at least one dataset; ``"all"`` =
    every installed task some dataset labels (each dataset's own first, in order)."""
    if config.stage == 1:
        return []
    if not config.tasks:
        raise ConfigError("stage 2 trains tasks, but the task list is empty: name them (--tasks semseg,depth), "
                          "pass --tasks all, or train --stage 1 (distillation only)")
    datasets = list(datasets) if datasets is not None else run_datasets(config)
    installed = get_registry().names("task")
    if config.tasks == "all":
        tasks: list[str] = []
        for dataset in datasets:
            tasks += [t for t in dataset.spec.tasks if t in installed and t not in tasks]
        for dataset in datasets:
            tasks += [t for t in installed if t not in tasks and get_task_spec(t).supported_by(dataset.spec)]
        if not tasks:
            has = sorted({t for d in datasets for t in d.spec.tasks})
            raise ConfigError(
                f"{describe_all(datasets)} {'has' if len(datasets) == 1 else 'have'} labels for {has or 'no task'} but "
                f"none of them is installed (installed tasks: {installed or 'none'})"
            )
    else:
        tasks = list(config.tasks)
        for name in tasks:
            spec = get_task_spec(name)  # unknown names fail with the installed list
            if not any(spec.supported_by(d.spec) for d in datasets):
                needs = f" (its targets derive from {list(spec.requires)})" if spec.derive_target else ""
                if len(datasets) == 1:
                    raise ConfigError(f"dataset {datasets[0].describe()} has no labels for task '{name}'{needs}; it "
                                      f"has {sorted(datasets[0].spec.tasks)}")
                labelled = "; ".join(f"{d.describe()} has {sorted(d.spec.tasks)}" for d in datasets)
                raise ConfigError(f"no dataset of the run has labels for task '{name}'{needs}: {labelled}")
    if not config.teachers or config.optim.alpha == 0:
        idle = [d.describe() for d in datasets if not d.tasks_of(tasks)]
        if idle:
            raise ConfigError(f"dataset {', '.join(idle)} labels none of the run's tasks ({', '.join(tasks)}) and the run "
                              "distils no teacher, so its batches would train nothing: drop it, or add teachers")
    return tasks


def describe_all(datasets: Sequence[RunDataset]) -> str:
    """``"dataset 'nyud'"`` or ``"datasets 'nyud', 'synthetic' (alias synth-b)"``, for messages."""
    return ("dataset " if len(datasets) == 1 else "datasets ") + ", ".join(d.describe() for d in datasets)


HEAD_SEPARATOR = "@"
"""Joins a task and a dataset key in the name of a head that serves one dataset: ``semseg@nyud``."""


def head_name(task: str, key: str | None = None) -> str:
    """The name of ``task``'s head: the task's own, or ``TASK@KEY`` for the head of dataset ``key``."""
    return task if key is None else f"{task}{HEAD_SEPARATOR}{key}"


def task_of_head(head: str) -> str:
    """The task a head predicts (its batch key and plugin): ``semseg@nyud`` -> ``semseg``."""
    return head.partition(HEAD_SEPARATOR)[0]


def dataset_of_head(head: str) -> str | None:
    """The dataset key of a head that serves one dataset (``semseg@nyud`` -> ``nyud``), else None."""
    task, sep, key = head.partition(HEAD_SEPARATOR)
    return key if sep else None


def task_heads(tasks: Sequence[str], datasets: Sequence[RunDataset]) -> dict[str, dict[str, int]]:
    """Each task's heads and their widths: one head named after the task when every dataset that
    labels it gives it the same outputs (and, where they name their classes, the same class names);
    else one head per dataset, ``TASK@KEY`` (PASCAL-Context's 21 classes and NYUD-v2's 40 are two
    label spaces: ``semseg@pascal-context``, ``semseg@nyud``)."""
    heads: dict[str, dict[str, int]] = {}
    for name in tasks:
        spec = get_task_spec(name)
        labelling = [d for d in datasets if spec.supported_by(d.spec)]
        widths = {d.key: spec.num_outputs(d.spec) for d in labelling}
        named = {tuple(d.spec.tasks.get(name, {}).get("class_names") or ()) for d in labelling} - {()}
        if len(set(widths.values())) == 1 and len(named) <= 1:
            heads[name] = {name: next(iter(widths.values()))}
        else:
            heads[name] = {head_name(name, key): n for key, n in widths.items()}
    return heads


def head_outputs(tasks: Sequence[str], datasets: Sequence[RunDataset]) -> dict[str, int]:
    """The student's heads (:func:`task_heads`) in task order: head name -> outputs."""
    return {head: n for heads in task_heads(tasks, datasets).values() for head, n in heads.items()}


def student_size(config: RunConfig, datasets: Sequence[RunDataset]) -> tuple[int, int]:
    """The student's input size (its position grid and the padded test size): ``data.input_size``,
    else the first dataset's training size."""
    return tuple(config.data.input_size or datasets[0].input_size)  # type: ignore[return-value]


def draw_shares(datasets: Sequence[RunDataset], sizes: Sequence[int]) -> list[float]:
    """The share of training batches each dataset gives (summing to 1), from its ``weight`` and its
    number of training samples (``sizes``): with every weight given, the weights relative to each
    other; with none, the sizes; with some, each given weight is a share of all batches (together
    below 1) and the rest is split among the others by size."""
    weights = [d.weight for d in datasets]
    if all(w is not None for w in weights):
        total = float(sum(weights))  # type: ignore[arg-type]
        return [float(w) / total for w in weights]  # type: ignore[arg-type]
    given = sum(w for w in weights if w is not None)
    if given >= 1:
        shown = ", ".join(f"{d.key} {d.weight}" for d in datasets if d.weight is not None)
        rest = ", ".join(d.key for d in datasets if d.weight is None)
        raise ConfigError(
            f"the dataset weights given ({shown}) are shares of all batches when other entries have none, and "
            f"they leave nothing for {rest}: keep them below 1 in total, or give every entry a weight (then they "
            "are relative to each other)")
    unweighted = sum(n for n, w in zip(sizes, weights) if w is None)
    return [float(w) if w is not None else (1 - given) * n / unweighted for n, w in zip(sizes, weights)]


def label_keys(dataset: DatasetSpec, task_names: Sequence[str]) -> list[str]:
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


def build_run_dataset(dataset: RunDataset, split: str, train: bool, run_tasks: Sequence[str],
                      input_size: Sequence[int] | None = None) -> Any:
    """``dataset``'s ``split`` with the labels of the run's tasks it has: training crops of its own
    size when ``train``, else images padded to ``input_size`` (default: its training size)."""
    size = dataset.input_size if train or input_size is None else tuple(input_size)
    tasks = list(dict.fromkeys(task_of_head(t) for t in dataset.tasks_of(run_tasks)))  # heads -> their tasks
    return build_dataset(dataset.spec, split, tasks, train, size, dataset.root,
                         dataset.options)

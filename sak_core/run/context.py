"""What evaluation and inference need from a run: the checkpoint, its config, tasks and data.

``sak eval``, ``sak predict`` and ``sak analyze`` take a run directory or a checkpoint file. A
:class:`RunContext` finds the weights, the run's ``config.yaml`` (for its datasets: each one's
root, options and labels) and ``plugins.json`` (to name the plugin a missing task came from).
Neither teachers nor a training setup are needed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from sak_core.model.mixture import RunDataset, build_run_dataset, resolve_dataset
from sak_core.run.checkpoint import load_student, read_metadata, resolve_checkpoint
from sak_core.run.hub import HubRef, hub_results_folder, is_hub_ref, parse_hub_ref
from sak_core.run.layout import CONFIG_FILE, PLUGINS_FILE, eval_folder
from sak_core.config import DatasetEntry, RunConfig, build_config, read_run_yaml
from sak_core.errors import ConfigError, EnvironmentProblem
from sak_core.runtime.files import read_text
from sak_core.model import SAKStudent
from sak_core.plugin.lookup import get_dataset_spec

_RUN_DIR_DEPTH = 3  # RUN/checkpoints/last/model.safetensors is three levels below RUN


@dataclass
class RunContext:
    """A checkpoint and, when it belongs to a sak run, the run's directory and configuration.

    Attributes:
        checkpoint: the ``.safetensors`` weights file.
        run_dir: the run directory holding ``config.yaml`` (None for a bare checkpoint).
        config: the run's resolved :class:`~sak_core.config.RunConfig` (None when absent).
        plugins: the entries of the run's ``plugins.json`` (which distribution provided what).
        notes: things the user should know (an unreadable config, ...).
        step: the training step the loaded student was saved at (None before :meth:`load_student`,
            or for a checkpoint saved without one).
        hub: the Hub repository of a student opened as ``hf://ORG/NAME[@REVISION]`` (its
            ``run_dir`` is then its snapshot in the Hugging Face cache), else None.
    """

    checkpoint: Path
    run_dir: Path | None = None
    config: RunConfig | None = None
    plugins: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    step: int | None = None
    hub: HubRef | None = None

    @classmethod
    def open(cls, run_or_checkpoint: str | Path) -> RunContext:
        """Resolve a run directory, a checkpoint file (``RUN/best/model.safetensors`` also
        finds ``RUN/config.yaml``) or a Hub student ``hf://ORG/NAME[@REVISION]``."""
        checkpoint = resolve_checkpoint(run_or_checkpoint)
        hub = parse_hub_ref(run_or_checkpoint) if is_hub_ref(run_or_checkpoint) else None
        context = cls(checkpoint=checkpoint, hub=hub)
        for folder in list(checkpoint.parents)[:_RUN_DIR_DEPTH]:
            if (folder / CONFIG_FILE).is_file():
                context.run_dir = folder
                break
        if context.run_dir is None:
            return context
        try:
            path = context.run_dir / CONFIG_FILE
            context.config = build_config(read_run_yaml(path), source=f"config {path}")
        except ConfigError as exc:
            context.notes.append(f"ignoring {context.run_dir / CONFIG_FILE}: {exc}")
        plugins_file = context.run_dir / PLUGINS_FILE
        if plugins_file.is_file():
            try:
                entries = json.loads(read_text(plugins_file))
                context.plugins = [e for e in entries if isinstance(e, dict)] if isinstance(entries, list) else []
            except (EnvironmentProblem, json.JSONDecodeError) as exc:
                context.notes.append(f"ignoring {plugins_file}: {exc}")
        return context

    def files_read(self) -> list[Path]:
        """The files a command on this context reads: the checkpoint, the run's config.yaml and
        plugins.json (what :func:`sak_core.runtime.files.check_output` never lets it write over)."""
        run_files = [self.run_dir / CONFIG_FILE, self.run_dir / PLUGINS_FILE] if self.run_dir is not None else []
        return [self.checkpoint, *run_files]

    def load_student(self, device: str | torch.device = "cpu") -> SAKStudent:
        """The student in eval mode on ``device``; :attr:`step` becomes the step it was saved at."""
        self.step = self._saved_step()  # read first: a live run's swap in between makes it the older step
        student = load_student(self.checkpoint, map_location="cpu")  # follows a live run's checkpoint swaps
        return student.to(device).eval()

    def _saved_step(self) -> int | None:
        step = read_metadata(self.checkpoint).get("step", "")
        return int(step) if step.isdigit() else None

    def results_folder(self) -> Path:
        """Where evaluation results of this checkpoint go and stay: ``RUN/eval/step-<N>`` for a
        checkpoint of a run (never inside ``checkpoints/``, whose folders a live run swaps away),
        ``RUN/eval/<checkpoint's folder>`` for one saved without a step, else beside the checkpoint;
        ``./ORG--NAME/eval/step-<N>`` for a Hub student (never inside the Hugging Face cache)."""
        if self.hub is not None:
            return hub_results_folder(self.hub, self.step if self.step is not None else self._saved_step())
        if self.run_dir is None:
            return self.checkpoint.parent
        step = self.step if self.step is not None else self._saved_step()
        return eval_folder(self.run_dir, step, self.checkpoint.parent)

    def unknown_dataset(self, installed: Sequence[str]) -> ConfigError:
        """The error of a command that needs a dataset when neither its ``--dataset`` nor the
        run's config.yaml names one; a run whose config.yaml could not be read is named as such."""
        if self.run_dir is not None and self.config is None:
            why = f"{self.run_dir / CONFIG_FILE} could not be read (the note above says why), so its dataset is " \
                  "unknown: fix the file or pass --dataset NAME"
        else:
            why = f"{self.checkpoint} is not inside a run with a config.yaml, so its dataset is unknown: pass " \
                  "--dataset NAME"
        return ConfigError(f"{why} (installed: {', '.join(installed) or 'none'})")

    def dataset_entries(self) -> list[DatasetEntry]:
        """The run's datasets as its config.yaml lists them (one for the one-dataset form); none
        without a readable config."""
        return self.config.data.entries() if self.config is not None else []

    @property
    def several_datasets(self) -> bool:
        """Whether the run trained on several datasets (``data.datasets`` with more than one entry)."""
        return len(self.dataset_entries()) > 1

    def run_datasets(self) -> list[RunDataset]:
        """Each of the run's datasets resolved against the installed plugins (its ``labels``
        option applied, its root and options), in the config's order; see :meth:`run_dataset`."""
        return [self._resolve(entry) for entry in self.dataset_entries()]

    def run_dataset(self, name: str | None = None) -> RunDataset | None:
        """The dataset a command scores: without ``name`` the run's (first) dataset; with it, the
        run's entry whose key (alias, else name) is ``name``, else the run's only entry of dataset
        ``name``, else the registered dataset ``name`` with its defaults (no root, no options, its
        own size). None when no dataset is known (no ``name`` and no run config). Corrupt samples
        are an error here, whatever the run's ``data.corrupt``: a score counts every image."""
        if name is None:
            entries = self.dataset_entries()
            return self._resolve(entries[0]) if entries else None
        entry = self.dataset_entry(name)
        if entry is not None:
            return self._resolve(entry)
        spec = get_dataset_spec(name)  # an unknown name fails with the installed list
        return RunDataset(name, spec, input_size=tuple(spec.input_size))  # type: ignore[arg-type]

    def dataset_entry(self, name: str) -> DatasetEntry | None:
        """The run's entry whose key is ``name``, else its only entry of dataset ``name``; None
        when the run has none. Two entries of dataset ``name`` (each with an alias) are a
        :class:`ConfigError` naming their keys."""
        entries = self.dataset_entries()
        for entry in entries:
            if entry.key == name:
                return entry
        same = [entry for entry in entries if entry.name == name]
        if len(same) > 1:
            keys = ", ".join(entry.key for entry in same)
            raise ConfigError(f"dataset '{name}' is ambiguous: the run has it {len(same)} times, as {keys}; name one "
                              f"by its key (e.g. --dataset {same[0].key})")
        return same[0] if same else None

    def _resolve(self, entry: DatasetEntry) -> RunDataset:
        assert self.config is not None
        config = self.config
        if config.data.corrupt != "error":  # evaluation scores every image, or fails naming the bad one
            config = config.model_copy(update={"data": config.data.model_copy(update={"corrupt": "error"})})
        return resolve_dataset(entry, config)

    def dataset_name(self, override: str | None = None) -> str | None:
        """The registered name of ``override`` (a run's dataset key resolves to its dataset),
        else the run's (first) dataset, else None."""
        if override:
            entry = self.dataset_entry(override)
            return entry.name if entry is not None else override
        entries = self.dataset_entries()
        return entries[0].name if entries else None

    def split(self, override: str | None = None) -> str:
        """``override``, else the run's validation split, else ``val``."""
        return override or (self.config.data.val_split if self.config is not None else "val")

    def test_data(self, dataset: RunDataset, split: str, tasks: Sequence[str],
                  input_size: Sequence[int] | None = None, root: str | None = None) -> Any:
        """The test-time dataset (normalise + pad to ``input_size``, default ``dataset``'s own
        size) of ``split`` with labels for ``tasks`` (those ``dataset`` has), from ``root``
        (default: the dataset's root)."""
        if root:
            dataset = replace(dataset, root=root)
        return build_run_dataset(dataset, split, False, tasks, input_size)

    def distribution_of(self, kind: str, name: str) -> str | None:
        """The distribution that provided ``kind`` ``name`` when the run was trained."""
        for entry in self.plugins:
            if entry.get("kind") == kind and entry.get("name") == name:
                return entry.get("distribution")
        return None

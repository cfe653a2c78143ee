"""A run directory's paths and its checkpoints (model and trainer state, committed as a pair).

The names of its files and folders are spelled in :mod:`sak_core.run.layout`.

A checkpoint is committed as a whole: written to ``.last.new``, synced, then swapped in
(``last`` -> ``.last.old``, ``.last.new`` -> ``last``, ``.last.old`` removed), so a crash at
any point leaves one complete checkpoint that :meth:`RunDir.recover` puts back in place.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sak_core.run.checkpoint import save_student
from sak_core.run.layout import (
    BEST_FILES,
    BEST_FOLDER,
    CHECKPOINTS_FOLDER,
    CONFIG_FILE,
    EVAL_FOLDER,
    LAST_FILES,
    LAST_FOLDER,
    LOCK_FILE,
    METRICS_LOG,
    MODEL_FILE,
    PLUGINS_FILE,
    SCORE_FILE,
    TENSORBOARD_FOLDER,
    TRAINER_FILE,
    swap_folders,
)
from sak_core.weights.files import load_torch_file
from sak_core.errors import CheckpointError, EnvironmentProblem
from sak_core.runtime.files import atomic_write, atomic_write_text, describe_os_error, fsync_dir
from sak_core.model import SAKStudent


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def plugins(self) -> Path:
        return self.root / PLUGINS_FILE

    @property
    def metrics(self) -> Path:
        return self.root / METRICS_LOG

    @property
    def final_model(self) -> Path:
        return self.root / MODEL_FILE

    @property
    def best(self) -> Path:
        return self.root / BEST_FOLDER

    @property
    def last(self) -> Path:
        return self.root / CHECKPOINTS_FOLDER / LAST_FOLDER

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def tensorboard(self) -> Path:
        return self.root / TENSORBOARD_FOLDER

    @property
    def evaluations(self) -> Path:
        return self.root / EVAL_FOLDER

    def last_checkpoint(self) -> Path | None:
        """The newest complete checkpoint folder, without changing anything (readers use this;
        a writer calls :meth:`recover` first)."""
        new, old = swap_folders(self.last)
        for folder in (new, self.last, old):
            if is_complete(folder, LAST_FILES):
                return folder
        return None

    def remove_stale_temporaries(self) -> list[Path]:
        """Remove the temporary files a killed writer left behind (:func:`sak_core.runtime.files.staged_writes`
        names them ``.NAME.XXXXXXXX.tmp.SUFFIX`` beside ``NAME``) in the run folder, ``best/`` and
        ``checkpoints/last``; returns them. Only the process holding the run's lock may call this."""
        removed = []
        for folder in (self.root, self.best, self.last):
            for path in sorted(folder.glob(".*.tmp*")) if folder.is_dir() else []:
                match = _STAGED.fullmatch(path.name)
                if match and path.is_file() and Path(match["target"]).suffix == (match["suffix"] or ""):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        return removed

    def recover(self) -> Path | None:
        """Finish a checkpoint swap that a crash interrupted (for ``last`` and ``best``) and
        return ``checkpoints/last``, or None when the run has no complete checkpoint.
        Only the process holding the run's lock may call this."""
        finish_swap(self.best, BEST_FILES)
        return finish_swap(self.last, LAST_FILES)


# io.staged_writes' temporary names: "." + target + "." + mkstemp's 8 random characters + ".tmp" + suffix
_STAGED = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}\.tmp(?P<suffix>\.[^.]+)?")


def is_complete(folder: Path, files: tuple[str, ...]) -> bool:
    """Whether ``folder`` holds every one of ``files``. Each file is written under a temporary
    name and renamed once synced, so a file that exists is whole."""
    return all((folder / f).is_file() for f in files)


def _remove(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder)


def _swap(folder: Path, new: Path, old: Path, files: tuple[str, ...]) -> None:
    """Put the complete ``new`` in place of ``folder``; at every instant one complete
    checkpoint exists (``folder``, ``old`` or ``new``)."""
    if folder.exists():
        if is_complete(folder, files):
            _remove(old)  # a leftover: folder is complete
            folder.rename(old)
        else:
            _remove(folder)
        fsync_dir(folder.parent)
    new.rename(folder)
    fsync_dir(folder.parent)
    _remove(old)
    fsync_dir(folder.parent)


def finish_swap(folder: Path, files: tuple[str, ...]) -> Path | None:
    """Bring ``folder`` to the newest complete state its ``.new`` / ``.old`` siblings hold."""
    folder = Path(folder)
    new, old = swap_folders(folder)
    if is_complete(new, files):  # written in full, the crash came before or during the swap
        _swap(folder, new, old, files)
    elif not is_complete(folder, files) and is_complete(old, files):
        _remove(folder)
        old.rename(folder)
        fsync_dir(folder.parent)
    if is_complete(folder, files):
        _remove(new)
        _remove(old)
        return folder
    return None


def write_checkpoint(folder: Path, student: SAKStudent, trainer_state: dict[str, Any] | None,
                     metadata: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write ``student`` (+ ``trainer_state``, + ``extra`` as score.json) into ``folder`` as a
    whole: everything goes to ``.NAME.new`` first and is synced to disk, then swapped in
    (the previous checkpoint is kept as ``.NAME.old`` until the new one is in place)."""
    folder = Path(folder)
    new, old = swap_folders(folder)
    files = [MODEL_FILE]
    kept = (f"{folder} keeps its previous checkpoint" if is_complete(folder, (MODEL_FILE,))
            else f"no checkpoint of {folder.name} was written")
    try:
        _remove(new)
        new.mkdir(parents=True)
        save_student(student, new / MODEL_FILE, metadata=metadata)
        if trainer_state is not None:
            atomic_write(new / TRAINER_FILE, lambda tmp: torch.save(trainer_state, tmp))
            files.append(TRAINER_FILE)
        if extra is not None:
            atomic_write_text(new / SCORE_FILE, json.dumps(extra, indent=2) + "\n")
            files.append(SCORE_FILE)
        fsync_dir(new)
        fsync_dir(new.parent)
    except Exception as exc:  # noqa: BLE001 - a full disk, a file-size limit: named, the partial copy removed
        shutil.rmtree(new, ignore_errors=True)  # gives a full disk its space back
        problem = str(exc) if isinstance(exc, EnvironmentProblem) else describe_os_error(exc, new / TRAINER_FILE)
        if problem is None:
            raise
        raise EnvironmentProblem(f"{problem} ({kept})") from None
    _swap(folder, new, old, tuple(files))
    return folder


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """The trainer state of a checkpoint folder, read without unpickling code."""
    path = Path(folder) / TRAINER_FILE
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist; is {folder} a sak checkpoint folder?")
    state = load_torch_file(path)
    if not isinstance(state, dict) or "step" not in state:
        raise CheckpointError(f"{path} is not a sak trainer state (no 'step'); is {folder} a sak checkpoint folder?")
    return state

"""The run directory layout and its checkpoints (model and trainer state, written atomically).

::

    RUN/config.yaml                       resolved run config
    RUN/plugins.json                      [{kind, name, distribution, version}, ...]
    RUN/metrics.jsonl                     one JSON object per log line / validation
    RUN/model.safetensors                 final student (written at the end)
    RUN/best/model.safetensors            best validation score so far (+ best/score.json)
    RUN/checkpoints/last/model.safetensors  latest checkpoint: the student
    RUN/checkpoints/last/trainer.pt         latest checkpoint: optimizer, scaler, step, RNG state
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from sak_core.checkpoint import MODEL_FILE, save_student
from sak_core.errors import CheckpointError
from sak_core.io import atomic_write, atomic_write_text
from sak_core.model import SAKStudent

TRAINER_FILE = "trainer.pt"


@dataclass(frozen=True)
class RunDir:
    """Paths inside one run directory."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def plugins(self) -> Path:
        return self.root / "plugins.json"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def final_model(self) -> Path:
        return self.root / MODEL_FILE

    @property
    def best(self) -> Path:
        return self.root / "best"

    @property
    def last(self) -> Path:
        return self.root / "checkpoints" / "last"

    def last_checkpoint(self) -> Path | None:
        """The newest complete checkpoint folder (a crash mid-swap leaves the previous one)."""
        for folder in (self.last, self.last.with_name(".last.old")):
            if (folder / MODEL_FILE).is_file() and (folder / TRAINER_FILE).is_file():
                return folder
        return None


def write_checkpoint(folder: Path, student: SAKStudent, trainer_state: dict[str, Any] | None,
                     metadata: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> Path:
    """Write ``student`` (+ ``trainer_state``, + ``extra`` as score.json) into ``folder`` as a
    whole: everything goes to a sibling folder first, which then replaces ``folder``."""
    folder = Path(folder)
    new, old = folder.with_name(f".{folder.name}.new"), folder.with_name(f".{folder.name}.old")
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(parents=True)
    save_student(student, new / MODEL_FILE, metadata=metadata)
    if trainer_state is not None:
        atomic_write(new / TRAINER_FILE, lambda tmp: torch.save(trainer_state, tmp))
    if extra is not None:
        atomic_write_text(new / "score.json", json.dumps(extra, indent=2) + "\n")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
    return folder


def read_trainer_state(folder: Path) -> dict[str, Any]:
    """The trainer state of a checkpoint folder, read without unpickling code."""
    path = Path(folder) / TRAINER_FILE
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist; is {folder} a sak checkpoint folder?") from None
    except Exception as exc:  # a truncated or foreign file
        raise CheckpointError(f"{path} could not be read ({exc}); is it truncated?") from None

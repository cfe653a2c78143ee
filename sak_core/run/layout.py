"""The names of a run directory's files and folders: the one place they are spelled.

::

    RUN/config.yaml                          CONFIG_FILE: the resolved run config
    RUN/plugins.json                         PLUGINS_FILE: [{kind, name, distribution, version}, ...]
    RUN/metrics.jsonl                        METRICS_LOG: one JSON object per log line / validation
    RUN/model.safetensors                    MODEL_FILE: the final student (written at the end)
    RUN/best/model.safetensors               BEST_FOLDER: the best validation score so far (+ SCORE_FILE)
    RUN/checkpoints/last/model.safetensors   CHECKPOINTS_FOLDER / LAST_FOLDER: the latest checkpoint
    RUN/checkpoints/last/trainer.pt          TRAINER_FILE: optimizer, scaler, step, RNG state
    RUN/checkpoints/.last.new, .last.old     swap_folders(): a checkpoint being swapped in
    RUN/eval/step-<N>/metrics.json           eval_folder(): evaluation results, by the step scored
    RUN/tensorboard/                         TENSORBOARD_FOLDER: TensorBoard scalars and pictures
    RUN/writer.lock                          LOCK_FILE: the process training the run

Light to import (no torch): the command line reads these names before it loads a model.
:func:`resolved_files` / :func:`write_resolved` give a run its ``config.yaml`` and
``plugins.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from sak_core.config import config_yaml
from sak_core.runtime.files import atomic_write_text

if TYPE_CHECKING:
    from sak_core.config import RunConfig

CONFIG_FILE = "config.yaml"
PLUGINS_FILE = "plugins.json"
METRICS_LOG = "metrics.jsonl"
MODEL_FILE = "model.safetensors"
TRAINER_FILE = "trainer.pt"
SCORE_FILE = "score.json"
LOCK_FILE = "writer.lock"
BEST_FOLDER = "best"
CHECKPOINTS_FOLDER = "checkpoints"
LAST_FOLDER = "last"
EVAL_FOLDER = "eval"
TENSORBOARD_FOLDER = "tensorboard"
METRICS_FILE = "metrics.json"  # the results of `sak eval` (in eval_folder(), or beside a checkpoint)
LIMITED_METRICS_FILE = "metrics.limited.json"  # ... of an evaluation limited to some images

LAST_FILES = (MODEL_FILE, TRAINER_FILE)  # a complete checkpoints/last
BEST_FILES = (MODEL_FILE, SCORE_FILE)  # a complete best/


def swap_folders(folder: Path) -> tuple[Path, Path]:
    """``(.NAME.new, .NAME.old)`` beside ``folder``: where a checkpoint is written before it is
    swapped in, and where the previous one waits until the swap is done."""
    folder = Path(folder)
    return folder.with_name(f".{folder.name}.new"), folder.with_name(f".{folder.name}.old")


# the folders that can hold the latest checkpoint while a live run swaps it: last, .last.old, .last.new
LAST_SWAP_FOLDERS = (LAST_FOLDER, *(p.name for p in reversed(swap_folders(Path(LAST_FOLDER)))))


def eval_folder(run_dir: Path, step: int | None = None, checkpoint_folder: Path | None = None) -> Path:
    """Where evaluation results of a run's checkpoint go: ``RUN/eval/step-<N>`` for one saved at
    step N, else ``RUN/eval/<the checkpoint's folder, relative to RUN, joined by '-'>`` (``model``
    for the final student)."""
    if step is not None:
        return Path(run_dir) / EVAL_FOLDER / f"step-{step}"
    relative = Path(checkpoint_folder).relative_to(run_dir) if checkpoint_folder is not None else Path()
    return Path(run_dir) / EVAL_FOLDER / ("-".join(relative.parts) or "model")


def resolved_files(config: RunConfig, plugins: list[dict[str, str]]) -> dict[str, str]:
    """The texts of a run's ``config.yaml`` (the resolved run config) and ``plugins.json``, by file name."""
    return {CONFIG_FILE: config_yaml(config), PLUGINS_FILE: json.dumps(plugins, indent=2) + "\n"}


def write_resolved(run_dir: str | Path, config: RunConfig, plugins: list[dict[str, str]]) -> None:
    """Write ``config.yaml`` (the resolved run config) and ``plugins.json`` into ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, text in resolved_files(config, plugins).items():
        atomic_write_text(run_dir / name, text)

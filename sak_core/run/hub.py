"""Students on the Hugging Face Hub: ``hf://ORG/NAME[@REVISION]`` wherever sak takes a run.

A student repository is what ``sak push`` uploads: a run's ``model.safetensors``,
``config.yaml``, ``plugins.json``, ``metrics.json`` (when it was scored) and ``README.md`` (the
model card). Its snapshot in the Hugging Face cache is laid out as a run directory, so once
:func:`hub_checkpoint` has it, everything that reads a run reads it the same way. The files
come through huggingface_hub into its cache, and from the cache alone when offline
(:mod:`sak_core.weights.hub`).
"""

from __future__ import annotations

from pathlib import Path

from sak_core.errors import CheckpointError
from sak_core.run.layout import CONFIG_FILE, EVAL_FOLDER, METRICS_FILE, MODEL_FILE, PLUGINS_FILE
from sak_core.weights.hub import HUB_SCHEME, HubRef, download_snapshot, is_hub_ref, parse_hub_ref

CARD_FILE = "README.md"
# the files of a student repository, in the order sak push writes them
STUDENT_FILES = (MODEL_FILE, CONFIG_FILE, PLUGINS_FILE, METRICS_FILE, CARD_FILE)

__all__ = ["CARD_FILE", "HUB_SCHEME", "STUDENT_FILES", "HubRef", "hub_checkpoint", "hub_results_folder",
           "is_hub_ref", "parse_hub_ref"]


def hub_checkpoint(text: str) -> Path:
    """The ``model.safetensors`` of student ``hf://ORG/NAME[@REVISION]`` in the Hugging Face cache
    (downloaded first when online and not cached), beside its ``config.yaml`` and ``plugins.json``.
    A repository without a student is a :class:`CheckpointError` naming it and the file."""
    ref = parse_hub_ref(text)
    folder = download_snapshot(ref, list(STUDENT_FILES))
    checkpoint = folder / MODEL_FILE
    if not checkpoint.is_file():
        raise CheckpointError(f"{ref}: the repository has no {MODEL_FILE} (cached in {folder}); is it a sak "
                              "student? sak push uploads one")
    return checkpoint


def hub_results_folder(ref: HubRef, step: int | None) -> Path:
    """Where results of a Hub student go: ``./ORG--NAME/eval/step-<N>`` (``ORG--NAME@REVISION`` for a
    revision other than main; ``.../eval/model`` without a step), in the working directory; never
    inside the Hugging Face cache."""
    name = ref.folder_name + ("" if ref.revision == "main" else f"@{ref.revision}")
    return Path(name) / EVAL_FOLDER / (f"step-{step}" if step is not None else "model")

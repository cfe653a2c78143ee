"""Student checkpoints: safetensors weights with the student config as metadata."""

from __future__ import annotations

import json
import pickle
import re
import time
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import Any

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import safe_open, save_file

from sak_core.config import validation_problems
from sak_core.errors import CheckpointError
from sak_core.run.hub import hub_checkpoint, is_hub_ref
from sak_core.run.layout import CHECKPOINTS_FOLDER, LAST_FOLDER, LAST_SWAP_FOLDERS, MODEL_FILE
from sak_core.runtime.files import atomic_write, describe_os_error, environment_problem
from sak_core.weights.files import load_state_strict
from sak_core.model import SAKStudent, StudentConfig

CONFIG_KEY = "sak_student_config"


def save_student(student: SAKStudent, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write the student's weights and config atomically to ``path`` (a .safetensors file). A write
    the machine refuses (a full disk, a file-size limit, a read-only folder) is an
    :class:`~sak_core.errors.EnvironmentProblem` naming ``path``; any previous file stays as it was."""
    try:
        return atomic_write(path, lambda tmp: write_student(student, tmp, metadata))
    except Exception as exc:  # noqa: BLE001 - classified here, re-raised when it is not the machine's
        if describe_os_error(exc, path) is None:
            raise
        raise environment_problem(exc, path) from None


def write_student(student: SAKStudent, file: str | Path, metadata: dict[str, str] | None = None) -> None:
    """Write the student's weights and config to ``file`` as it is (not atomically: for a file that
    is itself temporary, such as one of ``io.staged_writes``); see :func:`save_student`."""
    meta = {CONFIG_KEY: student.config.model_dump_json(), **(metadata or {})}
    state = {k: v.detach().contiguous().cpu() for k, v in student.state_dict().items()}
    save_file(state, str(file), metadata=meta)
    sort_metadata(file)


def sort_metadata(path: str | Path) -> None:
    """Rewrite a safetensors header with its metadata keys sorted (safetensors writes them in
    hash order), so that identical models give byte-identical files."""
    with open(path, "r+b") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        if "__metadata__" in header:
            header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > size:  # cannot happen for a reordering; keep the file as written
            return
        f.seek(8)
        f.write(text + b" " * (size - len(text)))  # safetensors pads its header with spaces


def resolve_checkpoint(path: str | Path) -> Path:
    """A run directory, a .safetensors file or a Hub student ``hf://ORG/NAME[@REVISION]`` (its
    file in the Hugging Face cache: :func:`sak_core.run.hub.hub_checkpoint`) -> the weights file.

    While a run is training, its checkpoint is swapped in place: ``.last.old`` / ``.last.new``
    hold it for a moment (a file that exists there is whole: each is renamed in once written).
    So a run directory resolves to whichever holds it, and a file of ``checkpoints/last`` (or
    its swap folders) that is gone resolves to the run's checkpoint found now."""
    if is_hub_ref(path):
        return hub_checkpoint(str(path))
    path = Path(path)
    if path.is_dir():
        checkpoints = path / CHECKPOINTS_FOLDER
        candidates = (path / MODEL_FILE, *(checkpoints / name / MODEL_FILE for name in LAST_SWAP_FOLDERS))
        # a scan can miss a swap's every folder in turn (each renamed just after its look): look again
        attempts = _SWAP_RETRIES if checkpoints.is_dir() else 1
        for attempt in range(1, attempts + 1):
            for candidate in candidates:
                if candidate.is_file():
                    return candidate
            if attempt < attempts:
                time.sleep(0.01 * attempt)
        raise CheckpointError(f"{path} holds no {MODEL_FILE} (nor {CHECKPOINTS_FOLDER}/{LAST_FOLDER}/{MODEL_FILE}); is it a sak run?")
    if not path.is_file():
        run = _live_run_of(path)
        if run is not None and run.is_dir():
            return resolve_checkpoint(run)
        raise CheckpointError(f"checkpoint {path} does not exist")
    return path


def read_metadata(path: str | Path) -> dict[str, str]:
    """The safetensors metadata of a checkpoint (following a live run's swaps, as the weights are read)."""

    def metadata(file: Path) -> dict[str, str]:
        try:
            with safe_open(str(file), framework="pt") as f:
                return dict(f.metadata() or {})
        except _UNREADABLE as exc:
            raise _unreadable(file, exc) from None

    return _following_swaps(resolve_checkpoint(path), metadata)[0]


TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".tar")


def is_torch_file_name(file: str | Path) -> bool:
    """Whether ``file`` is named like a ``torch.save`` file (``.pth``, ``.pt``, ...)."""
    return Path(file).suffix.lower() in TORCH_SUFFIXES


_UNREADABLE = (SafetensorError, OSError, RuntimeError)  # RuntimeError: torch's own open of the file


def _unreadable(file: str | Path, exc: Exception) -> CheckpointError:
    """The error for a .safetensors read that failed; a torch file is pointed at `sak convert official`."""
    hint = ("it looks like a PyTorch file: convert the authors' checkpoints with `sak convert official`"
            if is_torch_file_name(file) else "is it truncated?")
    return CheckpointError(f"{file} is not a readable safetensors file ({exc}); {hint}")


def load_student(path: str | Path, map_location: str | torch.device = "cpu", **config_changes: Any) -> SAKStudent:
    """Rebuild a student from a checkpoint written by sak (run directory or .safetensors file).

    No teacher or task plugin is needed: the widths and outputs are in the checkpoint.
    ``config_changes`` replace config fields (e.g. ``input_size``) before building.
    """
    meta, weights, file = _read_checkpoint(resolve_checkpoint(path), map_location)
    if CONFIG_KEY not in meta:
        raise CheckpointError(
            f"{file} has no '{CONFIG_KEY}' metadata: it was not written by sak; "
            "convert official SAK checkpoints with `sak convert official`"
        )
    try:
        stored = json.loads(meta[CONFIG_KEY])
        if not isinstance(stored, dict):
            raise ValueError(f"it holds a {type(stored).__name__}, not a mapping")
        config = StudentConfig.model_validate({**stored, "stem_pretrained": False})
    except ValueError as exc:  # json.JSONDecodeError and pydantic's ValidationError are ValueErrors
        problems = validation_problems(exc) if isinstance(exc, ValidationError) else str(exc)
        raise CheckpointError(f"{file}: its '{CONFIG_KEY}' metadata is not a valid student config ({problems}); "
                              "was the file edited? Re-save it with sak") from None
    if config_changes:
        config = StudentConfig.model_validate({**config.model_dump(), **config_changes})
    non_finite = [key for key, tensor in weights.items() if tensor.is_floating_point() and not tensor.isfinite().all()]
    if non_finite:
        raise CheckpointError(f"{file}: {len(non_finite)} tensor(s) hold NaN or infinite values, e.g. "
                              f"{', '.join(non_finite[:3])}; the weights are broken (a diverged run?): use an "
                              "earlier checkpoint")
    student = SAKStudent(config)
    load_state_strict(student, weights, source=str(file))
    return student


_SWAP_RETRIES = 10
_READ_RETRIES = 60  # reads of a file a live run keeps swapping away: about 5 s in all


def _read_checkpoint(file: Path, map_location: str | torch.device) -> tuple[dict[str, str], dict[str, torch.Tensor], Path]:
    """The metadata and tensors of ``file``, read through one open of it (:func:`_following_swaps`)."""
    (meta, weights), file = _following_swaps(file, lambda f: read_safetensors(f, map_location))
    return meta, weights, file


def _following_swaps(file: Path, read: Callable[[Path], Any]) -> tuple[Any, Path]:
    """``read(file)`` and the file it read.

    A live run swaps ``checkpoints/last`` in place (``last`` -> ``.last.old``, ``.last.new`` ->
    ``last``): a reader can see its file renamed away before it is opened. When a read fails
    and the file is gone or another file has taken its name, the run's checkpoint is looked up
    again and read (the swap always leaves one complete checkpoint in place). A file that
    stayed the same file while it failed to read is broken: its error is raised at once."""
    attempt = 0
    while True:
        attempt += 1
        before = _identity(file)
        try:
            return read(file), file
        except CheckpointError:
            # a live run that checkpoints every step can swap the file away under each read: keep
            # trying for a few seconds (a busy machine slows the reader more than the writer)
            if attempt == _READ_RETRIES or (before is not None and _identity(file) == before):
                raise
        time.sleep(min(0.01 * attempt, 0.1))
        file = resolve_checkpoint(file)


def _identity(file: Path) -> tuple[int, ...] | None:
    """What tells one file from another written at the same path (None when there is none)."""
    try:
        stat = file.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns


def _live_run_of(file: Path) -> Path | None:
    """The run directory of a checkpoint file inside ``checkpoints/last`` (or its swap folders)."""
    if file.parent.name in LAST_SWAP_FOLDERS and file.parent.parent.name == CHECKPOINTS_FOLDER:
        return file.parent.parent.parent
    return None


def read_safetensors(
    file: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    """The metadata and tensors of a safetensors file, both through one open of it (so both
    come from the same file even when another is renamed over it meanwhile), or a
    :class:`CheckpointError` naming the file."""
    try:
        with safe_open(str(file), framework="pt", device=str(map_location)) as f:
            return dict(f.metadata() or {}), {key: f.get_tensor(key) for key in f.keys()}
    except _UNREADABLE as exc:
        raise _unreadable(file, exc) from None


def read_weights(file: str | Path, map_location: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, or a :class:`CheckpointError` naming the file."""
    return read_safetensors(file, map_location)[1]



"""Atomic, durable file writing: write a temporary file beside the target, fsync it, rename it over the target."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_writes() -> Iterator[Callable[[str | Path], Path]]:
    """Write several files as one: ``stage(path)`` gives a temporary path beside ``path`` to write
    to; when the block ends without an error every staged file is flushed and renamed over its
    target, one after another. An error in the block (a failed write, a full disk) renames
    nothing and removes the temporary files, so the targets are never left half old, half new.

    ::

        with staged_writes() as stage:
            save_file(state, stage(run / "model.safetensors"))
            stage(run / "config.yaml").write_text(text)
    """
    staged: list[tuple[Path, Path]] = []

    def stage(path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + path.suffix, dir=path.parent)
        os.close(fd)
        staged.append((Path(tmp), path))
        return Path(tmp)

    try:
        yield stage
        for tmp, _ in staged:
            fsync_file(tmp)  # every file is on disk before any name points at it
        for tmp, path in staged:
            os.replace(tmp, path)
        for folder in {path.parent for _, path in staged}:
            fsync_dir(folder)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    A crash or exception leaves any previous ``path`` untouched and removes the temporary file.
    """
    with staged_writes() as stage:
        yield stage(path)


def fsync_file(path: str | Path) -> None:
    """Flush ``path``'s content to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (renames, new files) to the disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` and rename the result to ``path``."""
    with atomic_path(path) as tmp:
        write(tmp)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def file_in_the_way(folder: str | Path) -> Path | None:
    """The first of ``folder`` and its parents that exists but is not a folder (so ``folder``
    cannot be created or written into), or None."""
    folder = Path(folder)
    return next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)


def write_failure(exc: OSError) -> str:
    """Why a write failed, for a message: ``"Permission denied: runs/x"``."""
    return f"{exc.strerror}: {exc.filename}" if exc.strerror and exc.filename else str(exc)

"""Atomic, durable file writing (a temporary file beside the target, fsync, rename over the
target), and the one classification of the machine's refusals (OS errors, undecodable text, a
failed torch write) into one-line messages."""

from __future__ import annotations

import errno
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sak_core.errors import EnvironmentProblem


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
        mode = 0o666 & ~current_umask()  # mkstemp (and writers that recreate the file) make it 0600
        for tmp, _ in staged:
            os.chmod(tmp, mode)
            fsync_file(tmp)  # every file is on disk before any name points at it
        for tmp, path in staged:
            os.replace(tmp, path)
        for folder in {path.parent for _, path in staged}:
            fsync_dir(folder)
    except OSError as exc:  # a refused write names the file it was for, not its temporary name
        for tmp, path in staged:
            if exc.filename is not None and str(exc.filename) == str(tmp):
                name_the_target(exc, path, tmp)
        raise
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``.

    A crash or exception leaves any previous ``path`` untouched and removes the temporary file.
    A refused write (a full disk, a file-size limit) is raised naming ``path``.
    """
    tmp = None
    try:
        with staged_writes() as stage:
            tmp = stage(path)
            yield tmp
    except OSError as exc:
        name_the_target(exc, path, tmp)
        raise


def name_the_target(exc: OSError, path: str | Path, tmp: str | Path | None = None) -> None:
    """Make ``exc`` name ``path`` when it names no file (a write refused with EFBIG or ENOSPC) or
    only ``tmp``, the temporary file written for it, so its message says which output failed."""
    if exc.strerror is None:  # OSError("reason"): a filename would replace the reason in its message
        return
    if exc.filename is None or (tmp is not None and str(exc.filename) == str(tmp)):
        exc.filename = str(path)


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


@contextmanager
def staged_folder(path: str | Path) -> Iterator[Path]:
    """A folder written as one: yield a temporary folder beside ``path`` (``.NAME.XXXXXXXX``) to
    fill; when the block ends without an error its files are synced and it is renamed to ``path``
    (which must not exist, or be an empty folder: the rename's ``OSError`` says so otherwise).
    An error in the block, or in the rename, removes the temporary folder and leaves ``path`` as
    it was, so an interrupted writer never leaves half a folder under the final name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes it 0700
        for folder, _, files in os.walk(tmp, topdown=False):
            for name in files:
                fsync_file(Path(folder) / name)
            fsync_dir(folder)
        os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        if tmp.exists():  # an error before or in the rename: nothing is left once renamed
            shutil.rmtree(tmp, ignore_errors=True)


def file_in_the_way(folder: str | Path) -> Path | None:
    """The first of ``folder`` and its parents that exists but is not a folder (so ``folder``
    cannot be created or written into), or None."""
    folder = Path(folder)
    return next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), None)


def check_output(
    path: str | Path,
    option: str = "--out",
    *,
    reads: Iterable[str | Path] = (),
    overwrite: bool = False,
    folder: bool = False,
) -> Path:
    """The output guard of every command that writes: refuse (a :class:`~sak_core.errors.SakError`
    naming ``option`` and the path) a ``path`` whose parent is not a folder, a file where a folder
    is asked (``folder``) or a folder where a file is, a file that is one of ``reads`` (the files
    the command reads: never, even with ``overwrite``), and an existing file unless ``overwrite``.
    An existing folder is accepted when ``folder``: check each file written into it with this too.
    Returns ``path`` as a Path; write it through :func:`atomic_path` or :func:`staged_writes`."""
    from sak_core.errors import SakError

    path = Path(path)
    blocked = file_in_the_way(path.parent)
    if blocked is not None:
        raise SakError(f"{option} {path}: {blocked} is a file, not a folder; choose another {option}")
    if folder:
        if path.exists() and not path.is_dir():
            raise SakError(f"{option} {path} is a file, not a folder; give a folder to write into")
        return path
    if path.is_dir():
        raise SakError(f"{option} {path} is a folder; give the path of a file to write")
    if not path.exists():
        return path
    for source in reads:
        if Path(source).exists() and os.path.samefile(path, source):
            raise SakError(f"{option} {path} is {source}, which this command reads; it is never written over, "
                           f"even with --overwrite: choose another {option}")
    if not overwrite:
        raise SakError(f"{path} exists; choose another {option} or pass --overwrite to replace it")
    return path


def write_failure(exc: OSError) -> str:
    """Why a write failed, for a message: ``"runs/x: permission denied; change its permissions ..."``
    (:func:`describe_os_error`'s line)."""
    return describe_os_error(exc) or str(exc)


def current_umask() -> int:
    """The process's umask (read from /proc where it can be, so no thread sees a changed umask)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def read_text(path: str | Path) -> str:
    """``path``'s text as UTF-8; a file that is not UTF-8 (or cannot be read) is an
    :class:`~sak_core.errors.EnvironmentProblem` naming it."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise environment_problem(exc, path) from None


# errno -> (what happened, what to do); the message reads "PATH: what happened; what to do"
_OS_ERRORS: dict[int, tuple[str, str]] = {
    errno.EACCES: ("permission denied", "change its permissions (or its folder's) or choose another path"),
    errno.EPERM: ("operation not permitted", "change its permissions (or its folder's) or choose another path"),
    errno.EROFS: ("the file system is read-only", "choose a path on a writable disk"),
    errno.ENOSPC: ("no space left on the device", "free some space or choose another disk, then run again"),
    errno.EDQUOT: ("disk quota exceeded", "free some space or choose another disk, then run again"),
    errno.EFBIG: ("file too large for the file-size limit (ulimit -f)",
                  "raise the limit (ulimit -f unlimited) or free the disk, then run again"),
    errno.ENAMETOOLONG: ("the name is too long for the file system", "choose a shorter name"),
    errno.ENOTDIR: ("a part of the path is a file, not a folder", "choose another path or move the file"),
    errno.EISDIR: ("is a folder, not a file", "give the path of a file"),
    errno.EEXIST: ("already exists", "choose another path or remove it"),
    errno.ENOENT: ("no such file or folder", "check the path"),
    errno.ELOOP: ("too many levels of symbolic links", "check the links on the path"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n) and run again"),
    errno.EIO: ("input/output error", "the disk may be failing: check it, or choose another disk"),
}
_TORCH_WRITE_FAILURE = "enforce fail at inline_container.cc"
# safetensors' io errors: IoError(Os { code: 28, ... }), or "I/O error: File too large (os error 27)"
_RUST_OS_ERROR = re.compile(r"Os \{ code: (\d+)|\(os error (\d+)\)")


def describe_os_error(exc: BaseException, path: str | Path | None = None) -> str | None:
    """One line for a refusal of the machine, naming the path and what to do, or None when ``exc``
    is not one (a bug is not described here). ``path`` names the file when ``exc`` does not
    (a UnicodeDecodeError, torch's failed write, a full disk met by ``write``).

    Covers OSError (permission denied, no space, file too large, name too long, not a folder, is a
    folder, ...), UnicodeDecodeError (a file that is not UTF-8 text), MemoryError, and torch's and
    safetensors' wrapped write failures."""
    if isinstance(exc, UnicodeDecodeError):
        where = f"{path}: " if path is not None else "a file sak read: "
        return (f"{where}not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position {exc.start}); "
                "save it as UTF-8 and run again")
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc)):
        return "not enough memory for this command: use a smaller size or batch, or a machine with more memory"
    code = exc.errno if isinstance(exc, OSError) else None
    message = str(exc)
    if code is None:
        match = _RUST_OS_ERROR.search(message)
        if match is not None and type(exc).__name__ == "SafetensorError":
            code = int(match.group(1) or match.group(2))
        elif isinstance(exc, RuntimeError) and _TORCH_WRITE_FAILURE in message:
            where = f"writing {path}" if path is not None else "writing a file"
            return (f"{where} failed ({message.split(']', 1)[-1].strip(' .') or 'the write failed'}): the disk may "
                    "be full or a file-size limit (ulimit -f) reached; free space or raise the limit, then run again")
        elif not isinstance(exc, OSError):
            return None
    named = getattr(exc, "filename", None) or path
    what, todo = _OS_ERRORS.get(code, (getattr(exc, "strerror", None) or message or type(exc).__name__,
                                       "check the path and the disk"))
    if code == errno.ENOTDIR and named is not None:
        blocked = file_in_the_way(Path(named).parent)
        if blocked is not None:
            return f"{named}: {blocked} is a file, not a folder; {todo}"
    if code == errno.EISDIR and named is not None:
        return f"{named} {what}; {todo}"
    return f"{named}: {what}; {todo}" if named is not None else f"{what}; {todo}"


def environment_problem(exc: BaseException, path: str | Path | None = None) -> EnvironmentProblem:
    """``exc`` as an :class:`~sak_core.errors.EnvironmentProblem` with :func:`describe_os_error`'s
    line (``exc``'s own text when it is not a refusal of the machine), to ``raise ... from None``."""
    from sak_core.errors import EnvironmentProblem

    return EnvironmentProblem(describe_os_error(exc, path) or f"{path}: {exc}")

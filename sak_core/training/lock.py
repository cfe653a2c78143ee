"""One writer per run directory: an OS file lock on RUN/writer.lock, held while a run trains.

The lock is ``flock`` on an open file, so the kernel releases it when the process ends, however
it ends (kill -9 included). The file records who holds it (pid, host, start time) for the
message a second writer gets. Readers (`sak eval`, `sak predict`) never take it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from pathlib import Path
from typing import Any

from sak_core.run.layout import LOCK_FILE
from sak_core.runtime.files import environment_problem
from sak_core.training.errors import TrainingError

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunLockedError(TrainingError):
    """Another process is writing the run directory."""


class RunLock:
    """The writer lock of one run directory; :meth:`acquire` refuses when another process holds it."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.path = self.root / LOCK_FILE
        self._file: Any = None
        self._created_root = False

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> RunLock:
        """Take the lock (creating the run directory) or raise :class:`RunLockedError`."""
        if self._file is not None:
            return self
        self._created_root = not self.root.exists()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            file = open(self.path, "a+")  # noqa: SIM115 - held open for the life of the lock
        except OSError as exc:  # a read-only run folder or disk: one line naming the path
            raise environment_problem(exc, self.path) from None
        if fcntl is not None:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                file.seek(0)
                holder = _describe(file.read())
                file.close()
                raise RunLockedError(
                    f"{self.root} is being written by another sak train ({holder}); wait for it to end or stop it, "
                    f"then continue with sak train --resume {self.root} (sak eval and sak predict can read it meanwhile)"
                ) from None
        file.seek(0)
        file.truncate()
        started = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        file.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": started}) + "\n")
        file.flush()
        self._file = file
        return self

    def check_free(self) -> None:
        """Raise :class:`RunLockedError` when another process holds the lock; take nothing."""
        if self.path.is_file():
            self.acquire()
            self.release()

    def release(self, remove_empty_root: bool = False) -> None:
        """Give the lock up; ``remove_empty_root`` removes a run directory this lock created and
        nothing else wrote to (a run that failed before it began)."""
        if self._file is None:
            return
        try:
            if remove_empty_root and self._created_root and [p.name for p in self.root.iterdir()] == [LOCK_FILE]:
                self.path.unlink(missing_ok=True)  # still locked: nobody can have taken it meanwhile
                try:
                    self.root.rmdir()
                except OSError:  # another process created a file meanwhile: leave the folder
                    pass
        finally:
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        if self._file is not None:
            self._file.close()


def _describe(text: str) -> str:
    """'pid 123 on host h, started ...' from the lock file's content (or what is known)."""
    try:
        info = json.loads(text.strip().splitlines()[0])
        return f"pid {info['pid']} on host {info['host']}, started {info['started']}"
    except (ValueError, IndexError, KeyError, TypeError):
        return "a process that has not yet written its pid"

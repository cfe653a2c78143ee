"""Dataset errors and the policy for samples that cannot be read (``on_error``).

Missing roots, split files and sample files are always errors (raised when the dataset is
built). A corrupt image or label file found while loading follows the dataset's policy:
``"error"`` (default) raises :class:`CorruptFileError` naming the file; ``"skip"`` logs the
file, serves the next readable sample instead, and reports how many were skipped when the
process ends (and through :attr:`LoadErrors.count` at any time).
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
from typing import Literal

from sak_core.errors import CorruptFileError, DataNotFoundError, DatasetError, SakError, SplitNotFoundError  # noqa: F401 (re-exported)

log = logging.getLogger("sak.datasets")

ErrorPolicy = Literal["error", "skip"]
POLICIES: tuple[str, ...] = ("error", "skip")


def check_policy(on_error: str) -> str:
    """``on_error`` if it is a known policy, otherwise a :class:`DatasetError`."""
    if on_error not in POLICIES:
        raise DatasetError(f"on_error must be one of {', '.join(POLICIES)}, not {on_error!r}")
    return on_error


class LoadErrors:
    """Counts the distinct samples skipped under the ``skip`` policy, across DataLoader workers.

    One shared flag per sample and the count live in shared memory created with the dataset, so
    workers started by a DataLoader (fork or spawn) add to the same number and a sample skipped
    again (by another index, worker or epoch) is counted and logged once; the main process logs
    the total once at exit.
    """

    def __init__(self, dataset_name: str, policy: str, size: int) -> None:
        self.dataset_name = dataset_name
        self.policy = check_policy(policy)
        context = multiprocessing.get_context("spawn")
        self._count = context.Value("i", 0) if policy == "skip" else None
        self._seen = context.RawArray("b", size) if policy == "skip" else None
        if self._count is not None:
            atexit.register(self._report)

    @property
    def count(self) -> int:
        """Distinct samples skipped so far (0 under the ``error`` policy)."""
        return 0 if self._count is None else int(self._count.value)

    def handle(self, exc: CorruptFileError, index: int) -> None:
        """Apply the policy to ``exc``, raised by sample ``index``: re-raise it, or count and log it."""
        if self._count is None:
            raise exc
        with self._count.get_lock():
            first = not self._seen[index]
            if first:
                self._seen[index] = 1
                self._count.value += 1
        if first:
            log.warning("skipping unreadable sample (on_error=skip): %s", exc)

    def summary(self) -> str:
        return f"dataset '{self.dataset_name}': skipped {self.count} unreadable sample(s) (on_error=skip)"

    def _report(self) -> None:
        try:
            if self.count:
                log.warning(self.summary())
        except Exception:  # interpreter shutdown; nothing useful left to do
            pass

"""DataLoaders whose worker processes hand a sak error back as itself.

torch re-raises an exception from a DataLoader worker as a new exception of the same type built
from the worker's formatted traceback: "Caught CorruptFileError in DataLoader worker process 0"
and some fifty lines, where the same file read with ``workers=0`` is one clean line. Here a
:class:`~sak_core.errors.SakError` raised while a worker reads or collates a batch is caught in
the worker and sent back as a :class:`WorkerFailure` in place of the batch; the main process
raises it again as the same class with the same message (naming the file). Any other exception
(a bug) keeps torch's report, traceback included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader, Dataset, get_worker_info

from sak_core.errors import SakError


class WorkerFailure:
    """A sak error raised in a DataLoader worker, carried back to the main process as its class
    (pickled by reference) and message."""

    def __init__(self, error: SakError) -> None:
        self.kind, self.message = type(error), str(error)

    def error(self) -> SakError:
        """The error again: the same class with the same message (a plain :class:`SakError` with
        that message where the class cannot be rebuilt from it)."""
        try:
            error = self.kind(self.message)
        except Exception:  # a subclass whose constructor takes other arguments
            return SakError(self.message)
        return error if str(error) == self.message else SakError(self.message)


def _in_worker() -> bool:
    return get_worker_info() is not None


class _CarryErrors(Dataset):
    """``dataset`` as it is, except that in a worker process a sak error becomes a :class:`WorkerFailure`."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: Any) -> Any:
        try:
            return self.dataset[index]
        except SakError as exc:
            if not _in_worker():
                raise
            return WorkerFailure(exc)

    def __getattr__(self, name: str) -> Any:  # the wrapped dataset's attributes (ids, tasks, ...)
        if name == "dataset":  # not set yet (unpickling in a worker)
            raise AttributeError(name)
        return getattr(self.dataset, name)


class _CarryCollate:
    """``collate_fn`` of a batch, or the batch's first :class:`WorkerFailure` (a picklable callable,
    for workers started by spawn)."""

    def __init__(self, collate_fn: Callable[[list[Any]], Any]) -> None:
        self.collate_fn = collate_fn

    def __call__(self, samples: Any) -> Any:
        # a list of samples with batching, one sample without (batch_size=None)
        items = samples if isinstance(samples, list) else [samples]
        failed = next((s for s in items if isinstance(s, WorkerFailure)), None)
        if failed is not None:
            return failed
        try:
            return self.collate_fn(samples)
        except SakError as exc:
            if not _in_worker():
                raise
            return WorkerFailure(exc)


class SakDataLoader(DataLoader):
    """A :class:`~torch.utils.data.DataLoader` (same arguments) that re-raises a sak error from
    a worker process as the original error, one line, as with ``num_workers=0``.

    ``loader.dataset`` is a thin wrapper that behaves as the given dataset (length, items, attributes).
    """

    def __init__(self, dataset: Dataset, *args: Any, collate_fn: Callable[[list[Any]], Any] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(_CarryErrors(dataset), *args, collate_fn=collate_fn, **kwargs)
        self.collate_fn = _CarryCollate(self.collate_fn)  # torch's default for the batching chosen, wrapped

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        for batch in super().__iter__():
            if isinstance(batch, WorkerFailure):
                raise batch.error() from None
            yield batch

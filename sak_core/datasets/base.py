"""The torch Dataset shared by the dense multi-task datasets (PASCAL-Context, NYUD-v2, synthetic)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from sak_core.datasets.errors import CorruptFileError, DatasetError, LoadErrors
from sak_core.datasets.transforms import DenseTransform, Raw, to_sample
from sak_core.plugin.specs import IMAGENET_MEAN, IMAGENET_STD


def parse_size(size: int | Sequence[int] | str) -> tuple[int, int]:
    """``512``, ``(448, 576)`` or ``"448x576"`` -> ``(H, W)``."""
    if isinstance(size, str):
        parts = size.lower().replace(",", "x").split("x")
        try:
            values = [int(p) for p in parts if p.strip()]
        except ValueError:
            raise DatasetError(f"size must look like HxW (e.g. 128x128), not {size!r}") from None
    elif isinstance(size, int):
        values = [size, size]
    else:
        values = [int(v) for v in size]
    if len(values) == 1:
        values = values * 2
    if len(values) != 2 or min(values) <= 0:
        raise DatasetError(f"size must be two positive integers H, W, not {size!r}")
    return values[0], values[1]


def select_tasks(requested: Sequence[str] | None, available: Sequence[str], dataset: str) -> tuple[str, ...]:
    """The tasks to load: all of ``available`` by default; unknown names are an error."""
    if requested is None:
        return tuple(available)
    unknown = [t for t in requested if t not in available]
    if unknown:
        raise DatasetError(
            f"dataset '{dataset}' has no labels for task(s) {', '.join(unknown)}; "
            f"it provides: {', '.join(available)}"
        )
    return tuple(requested)


class DenseDataset(Dataset):
    """Dense multi-task samples (docs/concepts.md) from ids and a :meth:`load_raw` per layout.

    Subclasses set ``name``, pass the split's ``ids`` and implement :meth:`load_raw`, which returns the
    un-augmented sample as numpy arrays (see :mod:`sak_core.datasets.transforms`) and raises
    :class:`CorruptFileError` for a file it cannot decode.

    Random augmentation draws from torch's generator, so ``torch.manual_seed`` and DataLoader
    worker seeding make it reproducible.
    """

    name = "dense"

    def __init__(self, root: Path, split: str, train: bool, input_size, tasks: Sequence[str], ids: Sequence[str],
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, on_error: str = "error",
                 transform: DenseTransform | None = None) -> None:
        self.root = Path(root)
        self.split = split
        self.train = train
        self.input_size = parse_size(input_size)
        self.tasks = tuple(tasks)
        self.transform = transform or DenseTransform(self.input_size, train=train, mean=tuple(mean), std=tuple(std))
        self.ids = list(ids)
        self.errors = LoadErrors(self.name, on_error, len(self.ids))

    def __len__(self) -> int:
        return len(self.ids)

    def load_raw(self, index: int) -> Raw:
        raise NotImplementedError

    def _load_checked(self, index: int) -> Raw:
        """:meth:`load_raw`, with the ``on_error`` policy applied (skip: the next readable one)."""
        for step in range(len(self.ids)):
            i = (index + step) % len(self.ids)
            try:
                raw = self.load_raw(i)
            except CorruptFileError as exc:
                self.errors.handle(exc, i)
                continue
            raw["_id"] = self.ids[i]  # type: ignore[assignment]
            return raw
        raise DatasetError(f"dataset '{self.name}' ({self.root}): no readable sample left to serve")

    def __getitem__(self, index: int) -> dict:
        raw = self._load_checked(index)
        sample_id = str(raw.pop("_id"))
        seed = int(torch.randint(0, 2**62, (1,)).item())
        sample, box = self.transform(raw, np.random.default_rng(seed))
        return to_sample(sample, sample_id, box)

    @property
    def skipped(self) -> int:
        """Distinct samples skipped so far under ``on_error="skip"``."""
        return self.errors.count

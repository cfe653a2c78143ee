"""Training and validation data: resumable per-sample-seeded order, and the schedule that picks
each step's dataset when a run has several."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, Subset

from sak_core.datasets.batch import collate_samples
from sak_core.datasets.loader import SakDataLoader
from sak_core.errors import ConfigError
from sak_core.training.seeding import sample_seed


class SeededSamples(Dataset):
    """Wraps a dataset so that item ``(index, seed)`` is drawn with every generator seeded by
    ``seed``: a sample's augmentation depends on where it falls in the run, not on which worker
    loads it or whether the run was resumed. The caller's generator states are left untouched."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, item: tuple[int, int]) -> Any:
        index, seed = item
        py_state, np_state = random.getstate(), np.random.get_state()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                random.seed(seed)
                np.random.seed(seed % 2**32)
                return self.dataset[index]
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


class IndexSeededSamples(Dataset):
    """Item ``i`` of ``dataset`` drawn with every generator seeded by ``i`` (:class:`SeededSamples`):
    a validation sample is the same at every validation, in the main process or a worker, and
    loading it leaves the training stream's generators untouched."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._seeded = SeededSamples(dataset)

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        return self._seeded[(index, sample_seed(0, 0, index))]


class EpochSampler(Sampler):
    """Shuffled order per epoch (seeded by the run's seed and the epoch), split over processes,
    whole batches only; :meth:`start_at` skips the batches a resumed run has already seen.

    Yields ``(index, sample_seed)`` pairs for :class:`SeededSamples`.
    """

    def __init__(self, size: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.size, self.batch_size, self.seed = size, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.steps_per_epoch = size // (batch_size * world_size)
        if self.steps_per_epoch == 0:
            raise ConfigError(
                f"the training set has {size} samples, fewer than one global batch "
                f"({batch_size} x {world_size} processes): lower data.batch_size"
            )
        self.epoch, self.start_batch = 0, 0

    def start_at(self, epoch: int, batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, batch

    def __len__(self) -> int:
        return (self.steps_per_epoch - self.start_batch) * self.batch_size

    def __iter__(self) -> Iterator[tuple[int, int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        order = torch.randperm(self.size, generator=g)[: self.steps_per_epoch * self.batch_size * self.world_size]
        positions = range(self.rank, len(order), self.world_size)  # interleaved, as DistributedSampler
        skip = self.start_batch * self.batch_size
        for n, position in enumerate(positions):
            if n >= skip:
                yield int(order[position]), sample_seed(self.seed, self.epoch, position)


def train_loader(dataset: Dataset, sampler: EpochSampler, workers: int, pin_memory: bool) -> SakDataLoader:
    """The training batches in ``sampler``'s order; a sak error in a worker is raised as itself."""
    return SakDataLoader(
        SeededSamples(dataset), batch_size=sampler.batch_size, sampler=sampler, num_workers=workers,
        pin_memory=pin_memory, drop_last=True, persistent_workers=False, collate_fn=collate_samples,
        generator=torch.Generator(),  # keeps the global generator (router noise) untouched
    )


def val_loader(dataset: Dataset, batch_size: int, workers: int, limit: int | None) -> SakDataLoader:
    """The first ``limit`` samples of ``dataset`` in order, each drawn with its own fixed seeds
    (:class:`IndexSeededSamples`), never from the global generators; a sak error in a worker is
    raised as itself."""
    if limit is not None and limit < len(dataset):  # type: ignore[arg-type]
        dataset = Subset(dataset, range(limit))
    return SakDataLoader(IndexSeededSamples(dataset), batch_size=batch_size, shuffle=False, num_workers=workers,
                         collate_fn=collate_samples, generator=torch.Generator())


SCHEDULE_BLOCK = 4096  # steps whose datasets are drawn at once


class DatasetSchedule:
    """Which dataset each training step takes its batch from: dataset ``i`` with probability
    ``weights[i] / sum(weights)``, drawn in blocks of steps from the run's seed, so that the
    choice at step ``s`` depends on the seed and ``s`` alone: every process draws the same, and a
    resumed run draws what the uninterrupted one did. One dataset: always 0."""

    def __init__(self, weights: Sequence[float], seed: int) -> None:
        total = float(sum(weights))
        if not weights or total <= 0 or min(weights) < 0:
            raise ConfigError(f"dataset weights must be positive, got {list(weights)}")
        self.weights = [float(w) for w in weights]
        self.seed = seed
        self._edges = np.cumsum(np.asarray(self.weights) / total)[:-1]  # the last edge is 1
        self._cached: tuple[int, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.weights)

    def _block(self, block: int) -> np.ndarray:
        """The datasets of steps ``block * SCHEDULE_BLOCK ...`` (int array)."""
        if self._cached is None or self._cached[0] != block:
            draws = np.random.Generator(np.random.PCG64([self.seed % 2**63, block])).random(SCHEDULE_BLOCK)
            self._cached = (block, np.searchsorted(self._edges, draws, side="right"))
        return self._cached[1]

    def at(self, step: int) -> int:
        """The dataset of step ``step`` (0-based)."""
        if len(self.weights) == 1:
            return 0
        block, offset = divmod(step, SCHEDULE_BLOCK)
        return int(self._block(block)[offset])

    def counts_before(self, step: int) -> list[int]:
        """How many batches each dataset gave in steps ``0 .. step-1``."""
        if len(self.weights) == 1:
            return [step]
        counts = np.zeros(len(self.weights), dtype=np.int64)
        for block in range(step // SCHEDULE_BLOCK + 1):
            chosen = self._block(block)[: max(0, min(SCHEDULE_BLOCK, step - block * SCHEDULE_BLOCK))]
            counts += np.bincount(chosen, minlength=len(self.weights))
        return [int(c) for c in counts]


def stream_seed(seed: int, index: int, key: str) -> int:
    """The sample-order seed of a run's ``index``-th dataset (key ``key``): the run's seed for the
    first (a one-dataset run is as before), a seed of its own for each other."""
    return seed if index == 0 else (seed * 1_000_003 + zlib.crc32(key.encode())) % 2**62


def batches_from(dataset: Dataset, sampler: EpochSampler, start: int, workers: int,
                 pin_memory: bool) -> Iterator[dict[str, Any]]:
    """``sampler``'s batches of ``dataset`` from its ``start``-th on, epoch after epoch, without end.
    The loader (and its workers) starts at the first ``next``."""
    epoch, offset = divmod(start, sampler.steps_per_epoch)
    while True:
        sampler.start_at(epoch, offset)
        yield from train_loader(dataset, sampler, workers, pin_memory)
        epoch, offset = epoch + 1, 0

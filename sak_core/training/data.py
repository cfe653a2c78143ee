"""Training and validation data: datasets from the registry, resumable per-sample-seeded order."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler, Subset

from sak_core.plugin.lookup import get_dataset_spec
from sak_core.model import assemble
from sak_core.datasets.batch import collate_samples
from sak_core.config import RunConfig
from sak_core.datasets.loader import SakDataLoader
from sak_core.errors import ConfigError
from sak_core.training.seeding import sample_seed


def input_size(config: RunConfig) -> tuple[int, int]:
    """The run's training crop (and padded test) size: the config's, else the dataset's."""
    return tuple(config.data.input_size or get_dataset_spec(config.data.dataset).input_size)  # type: ignore[return-value]


def run_dataset(config: RunConfig, split: str, train: bool, tasks: Sequence[str]) -> Dataset:
    """The run's dataset for ``split`` with the labels of ``tasks``."""
    options: dict[str, Any] = dict(config.data.options)
    if config.data.corrupt != "error":
        options.setdefault("on_error", config.data.corrupt)
    spec = get_dataset_spec(config.data.dataset)
    return assemble.build_dataset(spec, split, tasks, train, input_size(config), config.data.root, options)


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

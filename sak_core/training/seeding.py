"""Seeds and random-number-generator state: reproducible runs and step-exact resumption."""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def sample_seed(base: int, epoch: int, position: int, rank: int = 0) -> int:
    """The seed of one training sample's augmentation, fixed by where it falls in the run."""
    return (base * 1_000_003 + epoch * 7_919 * 1_000_000 + position * 97 + rank * 1_000_000_007) % 2**62


def teacher_seed(base: int, name: str) -> int:
    """The seed a run's teacher ``name`` is created with: its random initialisation (all of a
    random-weights teacher's) depends on the run's seed and its name only, so evaluating the run
    later builds the same teachers."""
    return (base * 1_000_003 + zlib.crc32(name.encode())) % 2**62


def rng_state() -> dict[str, Any]:
    """The generators' states, in a form ``torch.load(weights_only=True)`` reads back."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]),
        "python_version": random.getstate()[0],
        "python_gauss": random.getstate()[2],
        "numpy": torch.from_numpy(keys.astype(np.int64)),
        "numpy_pos": int(pos),
        "numpy_gauss": (int(has_gauss), float(cached)),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    has_gauss, cached = state["numpy_gauss"]
    np.random.set_state(("MT19937", state["numpy"].numpy().astype(np.uint32), state["numpy_pos"], has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])


@contextmanager
def rng_untouched() -> Iterator[None]:
    """Run a block (validation, pictures) without moving the training stream: every generator
    :func:`rng_state` covers is put back as it was when the block ends, however it ends."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)

"""Learning-rate schedules evaluated per iteration: poly, cosine and constant, each with warm-up."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

SCHEDULES = ("poly", "cosine", "constant")


@dataclass(frozen=True)
class Schedule:
    """The learning rate of every iteration of a run.

    ``lr(step)`` is the rate of the update made at 0-based iteration ``step`` of ``total``.
    Warm-up rises linearly, ``base_lr * (step + 1) / warmup``, over the first ``warmup``
    iterations; after it:

    - poly: ``min_lr + (base_lr - min_lr) * (1 - t / T) ** power``
    - cosine: ``min_lr + (base_lr - min_lr) * (1 + cos(pi * t / T)) / 2``
    - constant: ``base_lr``

    with ``t = step - warmup`` and ``T = total - warmup``.
    """

    kind: str
    base_lr: float
    total: int
    warmup: int = 0
    min_lr: float = 0.0
    power: float = 0.9

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule '{self.kind}'; choose one of {', '.join(SCHEDULES)}")
        if self.total < 1 or not 0 <= self.warmup <= self.total:
            raise ValueError(f"schedule needs total >= 1 and 0 <= warmup <= total (got {self.total}, {self.warmup})")

    def lr(self, step: int) -> float:
        if step < self.warmup:
            return self.base_lr * (step + 1) / self.warmup
        t = min(step - self.warmup, self.total - self.warmup)
        span = max(self.total - self.warmup, 1)
        if self.kind == "constant":
            return self.base_lr
        if self.kind == "poly":
            return self.min_lr + (self.base_lr - self.min_lr) * (1 - t / span) ** self.power
        return self.min_lr + (self.base_lr - self.min_lr) * (1 + math.cos(math.pi * t / span)) / 2

    def apply(self, optimizer: torch.optim.Optimizer, step: int) -> float:
        """Set every parameter group's rate to ``lr(step)``; returns it."""
        lr = self.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        return lr


def build_schedule(optim, total: int, warmup: int) -> Schedule:
    """The schedule of an :class:`~sak_core.config.OptimSection` over ``total`` iterations."""
    return Schedule(
        kind=optim.schedule,
        base_lr=optim.lr,
        total=total,
        warmup=min(warmup, total),
        min_lr=optim.min_lr,
        power=optim.poly_power,
    )

"""Multi-process training: torchrun environment, process group, DDP wrapping and collectives."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from sak_core.runtime.device import resolve_device


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: rank, world size and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def any(self, *flags: bool) -> list[bool]:
        """Each flag OR-ed over all processes (every process must call this at the same step)."""
        if not self.distributed:
            return list(flags)
        t = torch.tensor([float(f) for f in flags], device=self._collective_device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return [bool(v) for v in t.tolist()]

    def gather(self, obj: Any) -> list[Any]:
        """``obj`` from every process, in rank order (on every process)."""
        if not self.distributed:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def broadcast_buffers(self, module: nn.Module) -> None:
        """Give every process rank 0's buffers (batch-norm running statistics).

        DDP does the same at the start of every forward, so this changes no step; it makes the
        processes agree after the last one (without SyncBatchNorm each updates its own stats).
        """
        if self.distributed:
            for buffer in module.buffers():
                dist.broadcast(buffer.data, src=0)

    @property
    def _collective_device(self) -> torch.device:
        return self.device if dist.get_backend() == "nccl" else torch.device("cpu")


def init_distributed(device: str | None = None) -> DistContext:
    """Join the process group when started by ``torchrun`` (``WORLD_SIZE`` > 1): nccl on GPU,
    gloo on CPU. Without torchrun: a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device, local_rank)
    if world <= 1:
        return DistContext(device=resolved)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, resolved)


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, ctx: DistContext, find_unused: bool = False) -> nn.Module:
    """DistributedDataParallel around ``model`` in a multi-process run (itself otherwise).

    Batch norm in the decode heads becomes SyncBatchNorm on GPU; torch has no CPU SyncBatchNorm,
    so on CPU the heads keep per-process statistics and DDP broadcasts rank 0's running stats.
    """
    if not ctx.distributed:
        return model
    if ctx.device.type == "cuda" and hasattr(model, "heads"):
        model.heads = nn.SyncBatchNorm.convert_sync_batchnorm(model.heads)
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused)

"""Teacher-Specific Adapter Paths: a chain of bottleneck adapters per teacher."""

from __future__ import annotations

import torch
from torch import nn


class Adapter(nn.Module):
    """``x + s * up(GELU(down(x)))`` with a learnable scalar ``s`` (init 1)."""

    def __init__(self, dim: int, ratio: int = 4) -> None:
        super().__init__()
        hidden = int(dim // ratio)
        self.down = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.up = nn.Linear(hidden, dim)
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.act(self.down(x))) * self.scale


class AdapterPath(nn.Module):
    """``depth + 1`` adapters following the stem: ``r0 = A0(x0)``, ``r_{i+1} = A_{i+1}(r_i + x_{i+1})``."""

    def __init__(self, dim: int, depth: int, ratio: int = 4) -> None:
        super().__init__()
        self.adapters = nn.ModuleList(Adapter(dim, ratio) for _ in range(depth + 1))

    def start(self, x0: torch.Tensor) -> torch.Tensor:
        """The path's state after the embedding tokens ``x0``."""
        return self.adapters[0](x0)

    def step(self, index: int, state: torch.Tensor, block_out: torch.Tensor) -> torch.Tensor:
        """The state after block ``index`` (0-based) produced ``block_out``."""
        return self.adapters[index + 1](state + block_out)

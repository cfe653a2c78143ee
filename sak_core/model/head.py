"""Decode head: fuses the routed maps of every level into one task's output."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DecodeHead(nn.Module):
    """Per level ``Linear(C, C/4)``, upsample to 1/4 input size, concat, ``Conv3x3 + BN + GELU``,
    ``Conv1x1`` to the task's outputs."""

    def __init__(self, dim: int, num_outputs: int, num_levels: int = 4) -> None:
        super().__init__()
        reduced = dim // 4
        self.reduce = nn.ModuleList(nn.Linear(dim, reduced) for _ in range(num_levels))
        self.fuse = nn.Sequential(
            nn.Conv2d(reduced * num_levels, dim, kernel_size=3, padding=1),
            nn.BatchNorm2d(dim),
            nn.GELU(),
        )
        self.classify = nn.Conv2d(dim, num_outputs, kernel_size=1)

    def forward(self, levels: list[torch.Tensor], input_size: tuple[int, int]) -> torch.Tensor:
        """``levels``: ``B x C x h x w`` each -> ``B x outputs x H x W`` at ``input_size``."""
        quarter = (input_size[0] // 4, input_size[1] // 4)
        reduced = []
        for linear, fea in zip(self.reduce, levels, strict=True):
            B, _, h, w = fea.shape
            x = linear(fea.flatten(2).transpose(1, 2))  # B, h*w, C/4
            x = x.transpose(1, 2).reshape(B, -1, h, w)  # B, C/4, h, w
            reduced.append(F.interpolate(x, size=quarter, mode="bilinear", align_corners=False))
        out = self.classify(self.fuse(torch.cat(reduced, dim=1)))  # B, outputs, H/4, W/4
        return F.interpolate(out, size=input_size, mode="bilinear", align_corners=False)

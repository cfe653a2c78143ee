"""Mixture-of-Representations routers: per-image weights over the stem and teacher experts."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RepresentationRouter(nn.Module):
    """Mixes ``E`` expert maps with one softmax gate per image computed from the stem tokens.

    Gate: ``Linear(C, C/2) -> LayerNorm -> GELU -> Linear(C/2, 2E)`` on each token, averaged over
    tokens. With noisy gating the last ``E`` outputs are the raw noise std: in training
    ``logits = clean + N(0, 1) * (softplus(raw) + 0.01)``, in eval the clean logits.
    """

    def __init__(self, dim: int, num_experts: int, noisy_gating: bool = True) -> None:
        super().__init__()
        self.num_experts = num_experts
        self.noisy_gating = noisy_gating
        out = num_experts * 2 if noisy_gating else num_experts
        self.gate = nn.Sequential(
            nn.Linear(dim, dim // 2), nn.LayerNorm(dim // 2), nn.GELU(), nn.Linear(dim // 2, out)
        )

    def weights(self, stem_tokens: torch.Tensor) -> torch.Tensor:
        """Expert weights ``B x E`` (rows sum to one) from stem tokens ``B x L x C``; the token
        mean and the softmax run in fp32 under autocast too, so rows sum to one to fp32 precision."""
        logits = self.gate(stem_tokens).float().mean(dim=1)  # B, E or 2E
        if self.noisy_gating:
            clean, raw_std = logits.chunk(2, dim=1)  # B, E each
            if self.training:
                logits = clean + torch.randn_like(clean) * (F.softplus(raw_std) + 0.01)
            else:
                logits = clean
        return logits.softmax(dim=1)

    def forward(self, stem_tokens: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
        """``experts``: ``B x E x C x h x w`` -> weighted sum ``B x C x h x w``."""
        w = self.weights(stem_tokens).to(experts.dtype)  # B, E
        return (experts * w[:, :, None, None, None]).sum(dim=1)


class SumRouter(nn.Module):
    """Ablation without routing: the plain sum of the experts."""

    def forward(self, stem_tokens: torch.Tensor, experts: torch.Tensor) -> torch.Tensor:
        return experts.sum(dim=1)

"""The segment-anything backend of the SAM teacher: the official ImageEncoderViT."""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
from torch import nn

from sak_core.weights import load_state_dict_strict, read_state_dict

ENCODER_PREFIX = "image_encoder."
# timm's port names the MLP layers fc1/fc2; segment-anything names them lin1/lin2.
TIMM_TO_SAM = ((".mlp.fc1.", ".mlp.lin1."), (".mlp.fc2.", ".mlp.lin2."))


def build(arch: dict[str, Any]) -> nn.Module:
    """An ImageEncoderViT from the resolved architecture (``embed_dim``, ``depth``, ...)."""
    from segment_anything.modeling import ImageEncoderViT

    args = dict(arch)
    args.setdefault("mlp_ratio", 4.0)
    args.setdefault("qkv_bias", True)
    args.setdefault("use_rel_pos", True)
    args.setdefault("norm_layer", functools.partial(nn.LayerNorm, eps=1e-6))
    return ImageEncoderViT(**args)


def to_encoder_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A full SAM checkpoint (only its image encoder is kept) or a timm samvit state dict ->
    the keys of ImageEncoderViT."""
    if any(k.startswith(ENCODER_PREFIX) for k in state):
        state = {k[len(ENCODER_PREFIX) :]: v for k, v in state.items() if k.startswith(ENCODER_PREFIX)}
    converted = {}
    for key, value in state.items():
        for old, new in TIMM_TO_SAM:
            key = key.replace(old, new)
        converted[key] = value
    return converted


def load(encoder: nn.Module, path: str | os.PathLike[str], teacher: str, hint: str = "") -> None:
    """Load the image encoder of a SAM checkpoint (either layout) strictly."""
    state = to_encoder_layout(read_state_dict(path, teacher, hint))
    load_state_dict_strict(encoder, state, teacher, path, hint)


def run_blocks(encoder: nn.Module, images: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
    """Raw outputs of blocks ``indices`` (the neck is not run), each B x C x h x w."""
    x = encoder.patch_embed(images)  # B, h, w, C
    if encoder.pos_embed is not None:
        x = x + encoder.pos_embed
    maps = []
    for i, block in enumerate(encoder.blocks[: max(indices) + 1]):
        x = block(x)
        if i in indices:
            maps.append(x.permute(0, 3, 1, 2))  # B, C, h, w
    return maps

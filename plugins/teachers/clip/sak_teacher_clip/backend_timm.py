"""The timm backend of the CLIP teacher: timm's CLIP ViT ports (the paper's teacher)."""

from __future__ import annotations

import functools
import os
from typing import Any

import torch
from torch import nn

from sak_core.errors import SpecError
from sak_core.teachers import timm_block_maps
from sak_core.weights import load_timm_weights, timm_weight_sources
from sak_teacher_clip.shape import TowerShape

DEFAULT_VARIANT = "vit_base_patch16_clip_384"
DEFAULT_TAG = "laion2b_ft_in12k_in1k"
ARCH_ALIASES: dict[str, str] = {}


def _name(variant: str | None, tag: str | None) -> str:
    return f"{variant or DEFAULT_VARIANT}.{tag or DEFAULT_TAG}"


@functools.lru_cache(maxsize=16)
def _describe(name: str, arch_items: tuple[tuple[str, Any], ...]) -> TowerShape:
    import timm

    try:
        with torch.device("meta"):  # module structure only: no memory, no weights
            model = timm.create_model(name, pretrained=False, **dict(arch_items))
    except RuntimeError as exc:
        if "Unknown model" not in str(exc) and "Invalid pretrained tag" not in str(exc):
            raise
        clip_models = ", ".join(timm.list_pretrained("*clip*")[:8])
        raise SpecError(f"timm has no CLIP model '{name}' ({exc}); some that exist: {clip_models}, ...") from None
    cfg = model.pretrained_cfg
    size = cfg.get("input_size", (3, 224, 224))[-2:]
    return TowerShape(
        label=name,
        embed_dim=int(model.embed_dim),
        depth=len(model.blocks),
        patch_size=int(model.patch_embed.patch_size[0]),
        input_size=(int(size[0]), int(size[1])),
        mean=tuple(cfg["mean"]),
        std=tuple(cfg["std"]),
        sources=timm_weight_sources(name),
    )


def describe(variant: str | None, tag: str | None, arch: dict[str, Any]) -> TowerShape:
    """Shape and weight sources of timm model ``variant.tag`` (read on the meta device)."""
    return _describe(_name(variant, tag), tuple(sorted(arch.items())))


def build(variant: str | None, tag: str | None, arch: dict[str, Any]) -> nn.Module:
    """The timm ViT, its position embeddings resampled to each input grid."""
    import timm

    return timm.create_model(_name(variant, tag), pretrained=False, dynamic_img_size=True, **arch)


def load(tower: nn.Module, path: str | os.PathLike[str], teacher: str, hint: str = "") -> None:
    """Load a timm-layout (or timm-convertible) checkpoint strictly."""
    load_timm_weights(tower, path, teacher, hint)


run_blocks = timm_block_maps  # raw outputs of the given blocks, each B x C x h x w

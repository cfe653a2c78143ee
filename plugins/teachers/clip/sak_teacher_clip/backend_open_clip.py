"""The open_clip backend of the CLIP teacher: open_clip's own VisionTransformer image tower."""

from __future__ import annotations

import copy
import difflib
import os
from typing import Any

import torch
from torch import nn

from sak_core.errors import SpecError
from sak_core.specs import WeightSource
from sak_core.weights import hub_source, load_state_dict_strict, read_state_dict
from sak_teacher_clip.shape import TowerShape

DEFAULT_VARIANT = "ViT-B-16"
DEFAULT_TAG = "laion2b_s34b_b88k"
HUB_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
LICENSE = "mit"  # open_clip's LAION releases
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
# The common architecture override names -> open_clip's CLIPVisionCfg names.
ARCH_ALIASES = {"embed_dim": "width", "depth": "layers", "img_size": "image_size"}


def _model_config(variant: str) -> dict[str, Any]:
    import open_clip

    cfg = open_clip.get_model_config(variant)
    if cfg is None:
        close = difflib.get_close_matches(variant, open_clip.list_models(), n=3)
        raise SpecError(
            f"open_clip has no model '{variant}'" + (f"; similar: {', '.join(close)}" if close else "")
            + ". List them with python -c \"import open_clip; print(open_clip.list_models())\""
        )
    return copy.deepcopy(cfg)


def _vision_cfg(variant: str, arch: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    cfg = _model_config(variant)
    vision = cfg["vision_cfg"]
    if vision.get("timm_model_name") or isinstance(vision.get("layers"), (list, tuple)):
        raise SpecError(
            f"open_clip model '{variant}' has no open_clip ViT image tower (it is a timm model or a "
            "ResNet): use backend='timm', or the timm teacher (--teachers timm:MODEL_NAME)"
        )
    arch = dict(arch)
    heads = arch.pop("num_heads", None)
    for key, value in arch.items():
        vision[ARCH_ALIASES.get(key, key)] = value
    if heads is not None:
        vision["head_width"] = vision.get("width", 768) // int(heads)
    return cfg, vision


def _tag_config(variant: str, tag: str) -> dict[str, Any]:
    import open_clip

    tag_cfg = open_clip.get_pretrained_cfg(variant, tag)
    if not tag_cfg:
        tags = open_clip.list_pretrained_tags_by_model(variant)
        raise SpecError(
            f"open_clip model '{variant}' has no pretrained tag '{tag}': choose one of "
            f"{', '.join(tags) or '(none: pass weights=PATH or weights=random)'}"
        )
    return tag_cfg


def _sources(variant: str, tag: str, tag_cfg: dict[str, Any]) -> tuple[WeightSource, ...]:
    sources = []
    hub = tag_cfg.get("hf_hub", "")
    if hub.endswith("/"):  # a repository: open_clip's default file names, safetensors first
        files = [(hub.rstrip("/"), name) for name in HUB_FILES]
    elif hub:
        files = [os.path.split(hub)]
    else:
        files = []
    for repo_id, filename in files:
        suffix = os.path.splitext(filename)[1]
        sources.append(hub_source(repo_id, filename, f"open_clip_{variant}_{tag}{suffix}", LICENSE))
    if tag_cfg.get("url"):
        url = tag_cfg["url"]
        sources.append(WeightSource(os.path.basename(url.split("?")[0]), url, LICENSE))
    return tuple(sources)


def default_sources() -> tuple[WeightSource, ...]:
    """Sources of the default variant and tag, without importing open_clip."""
    repo_id = "laion/CLIP-ViT-B-16-laion2B-s34B-b88K"
    return tuple(
        hub_source(repo_id, name, f"open_clip_{DEFAULT_VARIANT}_{DEFAULT_TAG}{os.path.splitext(name)[1]}", LICENSE)
        for name in HUB_FILES
    )


def describe(variant: str | None, tag: str | None, arch: dict[str, Any]) -> TowerShape:
    """Shape and weight sources of open_clip ``variant`` with pretrained ``tag``."""
    variant, tag = variant or DEFAULT_VARIANT, tag or DEFAULT_TAG
    _, vision = _vision_cfg(variant, arch)
    tag_cfg = _tag_config(variant, tag)
    size = vision.get("image_size", 224)
    size = (size, size) if isinstance(size, int) else tuple(size)
    return TowerShape(
        label=f"{variant} {tag}",
        embed_dim=int(vision.get("width", 768)),
        depth=int(vision.get("layers", 12)),
        patch_size=int(vision.get("patch_size", 16)),
        input_size=(int(size[0]), int(size[1])),
        mean=tuple(tag_cfg.get("mean", OPENAI_MEAN)),
        std=tuple(tag_cfg.get("std", OPENAI_STD)),
        sources=_sources(variant, tag, tag_cfg),
    )


def build(variant: str | None, tag: str | None, arch: dict[str, Any]) -> nn.Module:
    """The image tower alone (the text tower is never built)."""
    from open_clip.model import _build_vision_tower

    variant, tag = variant or DEFAULT_VARIANT, tag or DEFAULT_TAG
    cfg, vision = _vision_cfg(variant, arch)
    quick_gelu = bool(cfg.get("quick_gelu", False) or _tag_config(variant, tag).get("quick_gelu", False))
    return _build_vision_tower(cfg["embed_dim"], vision, quick_gelu=quick_gelu)


def load(tower: nn.Module, path: str | os.PathLike[str], teacher: str, hint: str = "") -> None:
    """Load a full open_clip checkpoint (its ``visual.*`` part) or a tower-only state dict."""
    state = read_state_dict(path, teacher, hint)
    if any(k.startswith("visual.") for k in state):
        state = {k[len("visual.") :]: v for k, v in state.items() if k.startswith("visual.")}
    load_state_dict_strict(tower, state, teacher, path, hint)


def run_blocks(tower: nn.Module, images: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
    """Raw outputs of blocks ``indices`` for ``images`` (B x 3 x H x W, H and W multiples of the
    patch size), as B x C x h x w; position embeddings are resampled to the input grid."""
    from timm.layers import resample_abs_pos_embed

    x = tower.conv1(images)  # B, C, h, w
    b, c, h, w = x.shape
    x = x.flatten(2).transpose(1, 2)  # B, hw, C
    pos = tower.positional_embedding.to(x.dtype).unsqueeze(0)  # 1, 1 + gh*gw, C
    if pos.shape[1] != 1 + h * w or tuple(tower.grid_size) != (h, w):
        pos = resample_abs_pos_embed(pos, new_size=[h, w], old_size=list(tower.grid_size), num_prefix_tokens=1)
    cls = tower.class_embedding.to(x.dtype).view(1, 1, c).expand(b, -1, -1)
    x = torch.cat([cls, x], dim=1) + pos  # B, 1 + hw, C
    x = tower.ln_pre(tower.patch_dropout(x))
    _, maps = tower.transformer.forward_intermediates(x, indices=indices, stop_early=True)
    return [m[:, 1:].transpose(1, 2).reshape(b, c, h, w) for m in maps]  # each B, C, h, w

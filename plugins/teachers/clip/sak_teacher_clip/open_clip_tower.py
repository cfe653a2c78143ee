"""The open_clip backend of the clip teacher: open_clip's own VisionTransformer image tower."""

from __future__ import annotations

import copy
import difflib
from pathlib import Path

import open_clip
import torch
from torch import nn

from sak_core.plugin import (
    Recipe,
    SpecError,
    TeacherOptions,
    TimmTeacher,
    even_taps,
    load_state_dict_strict,
    read_state_dict,
)
from sak_teacher_clip.sources import OPENAI_MEAN, OPENAI_STD, open_clip_sources
from sak_teacher_clip.layouts import TRANSFORMERS

ARCH_ALIASES = {"embed_dim": "width", "depth": "layers", "img_size": "image_size"}  # -> CLIPVisionCfg


def recipe(options: TeacherOptions, variant: str, tag: str) -> Recipe:
    """The image tower of open_clip ``variant`` (``arch`` applied) with pretrained ``tag``."""
    cfg = open_clip.get_model_config(variant)
    if cfg is None:
        close = difflib.get_close_matches(variant, open_clip.list_models(), n=3)
        raise SpecError(f"open_clip has no model '{variant}'" + (f"; similar: {', '.join(close)}" if close else "")
                        + ". List them with python -c \"import open_clip; print(open_clip.list_models())\"")
    cfg, arch = copy.deepcopy(cfg), dict(options.arch or {})
    vision = cfg["vision_cfg"]
    if vision.get("timm_model_name") or isinstance(vision.get("layers"), (list, tuple)):
        raise SpecError(f"open_clip model '{variant}' has no open_clip ViT image tower (it is a timm model or a "
                        "ResNet): use backend='timm', or the timm teacher (--teachers timm:MODEL_NAME)")
    heads = arch.pop("num_heads", None)
    vision.update({ARCH_ALIASES.get(k, k): v for k, v in arch.items()})
    if heads is not None:
        vision["head_width"] = vision.get("width", 768) // int(heads)
    tag_cfg = open_clip.get_pretrained_cfg(variant, tag)
    if not tag_cfg:
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(variant))
        raise SpecError(f"open_clip model '{variant}' has no pretrained tag '{tag}': choose one of "
                        f"{tags or '(none: pass weights=PATH or weights=random)'}")
    size = vision.get("image_size", 224)
    size = (size, size) if isinstance(size, int) else tuple(size)
    quick_gelu = bool(cfg.get("quick_gelu", False) or tag_cfg.get("quick_gelu", False))
    return Recipe(
        variant, int(vision.get("width", 768)), even_taps(int(vision.get("layers", 12))), int(vision.get("patch_size", 16)),
        (int(size[0]), int(size[1])), open_clip_sources(variant, tag, tag_cfg.get("hf_hub", ""), tag_cfg.get("url", "")),
        tuple(tag_cfg.get("mean", OPENAI_MEAN)), tuple(tag_cfg.get("std", OPENAI_STD)),
        model_args=dict(embed_dim=cfg["embed_dim"], vision_cfg=vision, quick_gelu=quick_gelu),
        module=f"{__name__}:OpenClipTeacher", description=f"CLIP {variant} {tag} (open_clip), object-level semantics",
        weight_layouts=(TRANSFORMERS,),
    )


class OpenClipTeacher(TimmTeacher):
    """open_clip's image tower alone (the text tower is never built); position embeddings are
    resampled to each input grid."""

    def build(self) -> nn.Module:
        from open_clip.model import _build_vision_tower

        return _build_vision_tower(**self.recipe.model_args)

    def load_weights(self, path: Path, hint: str = "") -> None:
        """A full open_clip checkpoint (its ``visual.*`` part) or a tower-only state dict."""
        state = read_state_dict(path, self.label, hint, self.spec.weight_layouts)
        if any(k.startswith("visual.") for k in state):
            state = {k[len("visual."):]: v for k, v in state.items() if k.startswith("visual.")}
        load_state_dict_strict(self.model, state, self.label, path, hint)

    def run_blocks(self, images: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        from timm.layers import resample_abs_pos_embed

        tower = self.model
        x = tower.conv1(images)  # B, C, h, w
        b, c, h, w = x.shape
        x = x.flatten(2).transpose(1, 2)  # B, hw, C
        pos = tower.positional_embedding.to(x.dtype).unsqueeze(0)  # 1, 1 + gh*gw, C
        if tuple(tower.grid_size) != (h, w):
            pos = resample_abs_pos_embed(pos, new_size=[h, w], old_size=list(tower.grid_size), num_prefix_tokens=1)
        cls = tower.class_embedding.to(x.dtype).view(1, 1, c).expand(b, -1, -1)
        x = tower.ln_pre(tower.patch_dropout(torch.cat([cls, x], dim=1) + pos))  # B, 1 + hw, C
        _, maps = tower.transformer.forward_intermediates(x, indices=indices, stop_early=True)
        return [m[:, 1:].transpose(1, 2).reshape(b, c, h, w) for m in maps]  # each B, C, h, w

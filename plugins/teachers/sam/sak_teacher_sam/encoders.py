"""SAM's image encoders as teachers: SAM's resize-and-pad input, timm's port and the official one."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sak_core.plugin import TimmTeacher, load_state_dict_strict, read_state_dict

PREFIX = "image_encoder."  # of the encoder's keys in a full SAM checkpoint


def resize_longest_side(images: torch.Tensor, size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Resize the longer side to ``size``, zero-pad bottom/right to a square, as SAM prepares its
    input; returns the square and the (h, w) of the resized image."""
    h, w = images.shape[-2:]
    scale = size / max(h, w)
    new_h, new_w = int(h * scale + 0.5), int(w * scale + 0.5)
    if (new_h, new_w) != (h, w):
        images = F.interpolate(images, size=(new_h, new_w), mode="bicubic", align_corners=False)
    return F.pad(images, (0, size - new_w, 0, size - new_h)), (new_h, new_w)


class SamTeacher(TimmTeacher):
    """timm's samvit port (what the reference used), fed as SAM feeds its encoder; position
    embeddings follow ``input_size``. SAM's LayerNorm eps (1e-6, timm's 1e-5) unless ``faithful``."""

    def build(self) -> nn.Module:
        import timm

        args = dict(self.recipe.model_args)
        if not self.faithful:
            args.setdefault("norm_layer", functools.partial(nn.LayerNorm, eps=1e-6))
        return timm.create_model(self.recipe.model, pretrained=False, **args)

    def prepare(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int] | None]:
        # Zero padding after normalisation is what SAM does (the padding is the mean colour).
        side, patch = self.spec.input_size[0], self.spec.patch_size
        x, (h, w) = resize_longest_side(images, side)  # B x 3 x side x side
        valid = (math.ceil(h / patch), math.ceil(w / patch))
        return x, None if self.faithful or valid == (side // patch,) * 2 else valid


class SegmentAnythingTeacher(SamTeacher):
    """The official ``ImageEncoderViT``; reads official SAM files and timm's layout alike."""

    def build(self) -> nn.Module:
        from segment_anything.modeling import ImageEncoderViT

        norm = functools.partial(nn.LayerNorm, eps=1e-6)
        return ImageEncoderViT(mlp_ratio=4.0, qkv_bias=True, use_rel_pos=True, norm_layer=norm, **self.recipe.model_args)

    def load_weights(self, path: Path, hint: str = "") -> None:
        state = read_state_dict(path, self.label, hint, self.spec.weight_layouts)
        if any(k.startswith(PREFIX) for k in state):  # a full SAM checkpoint: keep the encoder
            state = {k[len(PREFIX):]: v for k, v in state.items() if k.startswith(PREFIX)}
        # timm's port names the MLP layers fc1/fc2, segment-anything lin1/lin2
        state = {k.replace(".mlp.fc", ".mlp.lin"): v for k, v in state.items()}
        load_state_dict_strict(self.model, state, self.label, path, hint)

    def run_blocks(self, images: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        from timm.layers import resample_abs_pos_embed_nhwc

        x = self.model.patch_embed(images)  # B, h, w, C
        if self.model.pos_embed is not None:
            x = x + resample_abs_pos_embed_nhwc(self.model.pos_embed, list(x.shape[1:3]))
        maps = []
        for i, block in enumerate(self.model.blocks[: max(indices) + 1]):  # the neck is not run
            x = block(x)
            if i in indices:
                maps.append(x.permute(0, 3, 1, 2))  # B, C, h, w
        return maps

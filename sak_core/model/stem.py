"""Teacher-Agnostic Stem: a plain timm ViT whose blocks are shared by every teacher and task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch
from torch import nn

from sak_core.config import PATCH_SIZE
from sak_core.errors import ConfigError
from sak_core.plugin.taps import even_taps

STEM_ALIASES = {
    "vit_small": "vit_small_patch16_384.augreg_in21k_ft_in1k",
    "vit_base": "vit_base_patch16_384.augreg_in21k_ft_in1k",
    "vit_large": "vit_large_patch16_384.augreg_in21k_ft_in1k",
}


def default_tap_indices(depth: int, levels: int = 4) -> list[int]:
    """Evenly spaced, distinct block indices ending at the last block: 12 -> [2, 5, 8, 11]
    (the teachers' spacing, :func:`sak_core.plugin.taps.even_taps`); every block when fewer."""
    if depth < levels:
        return list(range(depth))
    return list(even_taps(depth, levels))


class TeacherAgnosticStem(nn.Module):
    """A timm ViT (patch 16) without final norm or classifier, built at the task input size.

    ``forward_tokens`` is not used: the student walks the blocks itself to interleave the
    adapter paths, using :meth:`embed` and :attr:`blocks`.
    """

    def __init__(
        self,
        model_name: str = "vit_base",
        input_size: tuple[int, int] = (512, 512),
        pretrained: bool | str = False,
        **overrides: Any,
    ) -> None:
        super().__init__()
        timm_name = STEM_ALIASES.get(model_name, model_name)
        kwargs: dict[str, Any] = dict(
            img_size=tuple(input_size), num_classes=0, dynamic_img_size=True, **overrides
        )
        if isinstance(pretrained, str):  # a local weights file
            file = Path(pretrained).expanduser()
            if not file.is_file():
                raise ConfigError(f"model.stem_pretrained: {file} does not exist; give the stem's weights file, "
                                  "true (timm's download) or false (random initial weights)")
            kwargs["pretrained_cfg_overlay"] = dict(file=str(file))
        if not timm.is_model(timm_name):
            raise ConfigError(f"unknown stem '{model_name}': use vit_small, vit_base, vit_large or a timm ViT name "
                              f"with patch size {PATCH_SIZE} (e.g. vit_base_patch{PATCH_SIZE}_224)")
        try:
            self.vit = timm.create_model(timm_name, pretrained=bool(pretrained), **kwargs)
        except (OSError, RuntimeError) as exc:  # no network / cache for the hub weights, or a bad file
            source = f"file {pretrained}" if isinstance(pretrained, str) else "download (timm's hub)"
            raise ConfigError(f"the stem's pretrained weights ({source}) could not be loaded: {exc}; set "
                              "model.stem_pretrained to a local weights file, or false") from None
        if self.vit.patch_embed.patch_size != (PATCH_SIZE, PATCH_SIZE):
            raise ConfigError(f"stem '{model_name}' must have patch size {PATCH_SIZE}, not {self.vit.patch_embed.patch_size}")
        self.vit.norm = nn.Identity()  # the reference removes the final norm
        self.embed_dim: int = self.vit.embed_dim
        self.depth: int = len(self.vit.blocks)
        self.num_prefix_tokens: int = self.vit.num_prefix_tokens
        self.patch_size = PATCH_SIZE

    @property
    def blocks(self) -> nn.Sequential:
        return self.vit.blocks

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """``B x 3 x H x W`` -> tokens ``B x (prefix + h*w) x C`` (patch + position embedding)."""
        x = self.vit.patch_embed(images)  # B, h, w, C (dynamic size)
        x = self.vit._pos_embed(x)  # B, prefix + h*w, C
        x = self.vit.patch_drop(x)
        return self.vit.norm_pre(x)

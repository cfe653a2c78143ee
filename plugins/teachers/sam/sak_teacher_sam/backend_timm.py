"""The timm backend of the SAM teacher: timm's samvit port (what the reference code used)."""

from __future__ import annotations

import functools
import os
from typing import Any

from torch import nn

from sak_core.teachers import timm_block_maps
from sak_core.weights import load_timm_weights


def build(timm_arch: str, arch: dict[str, Any], faithful: bool = False) -> nn.Module:
    """timm's ``samvit_*`` model from the resolved architecture.

    timm's port uses LayerNorm eps 1e-5 where SAM uses 1e-6; the official eps is restored
    unless ``faithful`` asks for the port as the reference used it.
    """
    import timm

    args = dict(arch)
    if not faithful:
        args.setdefault("norm_layer", functools.partial(nn.LayerNorm, eps=1e-6))
    return timm.create_model(timm_arch, pretrained=False, **args)


def load(encoder: nn.Module, path: str | os.PathLike[str], teacher: str, hint: str = "") -> None:
    """Load a timm samvit or an official SAM checkpoint (converted by timm's filter) strictly."""
    load_timm_weights(encoder, path, teacher, hint)


run_blocks = timm_block_maps  # raw outputs of the given blocks, each B x C x h x w

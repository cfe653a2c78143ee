"""Example sak teacher plugin `convnext`: a frozen timm ConvNeXt tapped after each stage."""

from __future__ import annotations

import warnings
from typing import Any

import timm
import torch

from sak_core import Teacher, TeacherOutput, TeacherSpec, WeightSource, hookimpl

DEFAULT_VARIANT = "convnext_tiny"
STAGE_DIMS = {"convnext_atto": (40, 80, 160, 320), "convnext_tiny": (96, 192, 384, 768),
              "convnext_small": (96, 192, 384, 768), "convnext_base": (128, 256, 512, 1024)}


def configure(variant: str = DEFAULT_VARIANT, arch: dict | None = None, **_: Any) -> TeacherSpec:
    """The spec of a ConvNeXt variant; widths per stage, from ``arch["dims"]`` when given."""
    if variant not in STAGE_DIMS and not (arch and "dims" in arch):
        raise ValueError(f"convnext variant '{variant}' unknown: choose one of {sorted(STAGE_DIMS)} or give arch dims")
    dims = tuple(int(d) for d in (arch or {}).get("dims", STAGE_DIMS.get(variant, ())))
    return TeacherSpec(
        name="convnext",
        factory=create,
        feature_dim=dims,
        tap_indices=(0, 1, 2, 3),
        patch_size=4,
        input_size=(224, 224),
        weights=(WeightSource(filename=f"{variant}.safetensors", url=f"https://huggingface.co/timm/{variant}.fb_in1k"),),
        configure=configure,
        description="timm ConvNeXt, one tap per stage (example plugin)",
    )


class ConvNeXtTeacher(Teacher):
    """Frozen ConvNeXt; features are the raw stage outputs."""

    def __init__(self, spec: TeacherSpec, variant: str = DEFAULT_VARIANT, weights: str | None = None,
                 arch: dict | None = None, faithful: bool = False) -> None:
        super().__init__(spec, faithful=faithful)
        kwargs = dict(num_classes=0, **(arch or {}))
        if weights == "random":
            warnings.warn("teacher 'convnext' uses random weights (asked for with weights='random')", stacklevel=2)
            self.model = timm.create_model(variant, pretrained=False, **kwargs)
        elif weights is None:
            self.model = timm.create_model(variant, pretrained=True, **kwargs)
        else:
            self.model = timm.create_model(variant, pretrained=True, pretrained_cfg_overlay=dict(file=str(weights)), **kwargs)
        self.freeze()

    def extract(self, images: torch.Tensor) -> TeacherOutput:
        stages = self.model.forward_intermediates(
            self.renormalize(images), indices=list(self.spec.tap_indices), norm=False, intermediates_only=True
        )  # B x C_s x H/4s x W/4s per stage
        return TeacherOutput(list(stages), None)


def create(**options: Any) -> ConvNeXtTeacher:
    return ConvNeXtTeacher(configure(**options), **options)


@hookimpl
def sak_register_teachers(register):
    register(configure())

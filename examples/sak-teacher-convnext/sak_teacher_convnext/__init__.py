"""Example sak teacher plugin `convnext`: a frozen timm ConvNeXt tapped after each of its stages.

A hierarchical teacher: its levels have different widths and strides (4, 8, 16, 32), read from
timm's ``feature_info`` on a weightless copy of the model. sak's shared teacher builder does the
rest (option checking, weights from ``$SAK_WEIGHTS`` / the hub cache / a path, freezing, taps).
"""

from __future__ import annotations

from dataclasses import dataclass

from sak_core.plugin import (
    Recipe,
    TeacherOptions,
    WeightSource,
    hookimpl,
    hub_source,
    teacher_spec,
    timm_recipe,
)

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

DEFAULT_VARIANT = "convnext_tiny.fb_in1k"


@dataclass(frozen=True)
class ConvNeXtOptions(TeacherOptions):
    """``variant``: a timm ConvNeXt with or without its tag (``convnext_small``,
    ``convnext_base.fb_in22k``); ``arch``: timm overrides such as ``dims`` and ``depths``."""

    variant: str = DEFAULT_VARIANT


def resolve(options: ConvNeXtOptions) -> Recipe:
    return timm_recipe(options, options.variant, stages=True,
                       description=f"timm {options.variant}, one tap per stage (example plugin)")


# The default variant, written out so that registering it does not import timm.
DEFAULT = Recipe(
    DEFAULT_VARIANT, (96, 192, 384, 768), (0, 1, 2, 3), 4, (224, 224),
    (hub_source(f"timm/{DEFAULT_VARIANT}", "model.safetensors", f"{DEFAULT_VARIANT}.safetensors", "apache-2.0"),
     WeightSource("convnext_tiny_1k_224_ema.pth", "https://dl.fbaipublicfiles.com/convnext/convnext_tiny_1k_224_ema.pth",
                  "apache-2.0")),
    description="timm ConvNeXt, one tap per stage (example plugin)",
)
SPEC = teacher_spec("convnext", ConvNeXtOptions, resolve, default=DEFAULT)


@hookimpl
def sak_register_teachers(register):
    register(SPEC)

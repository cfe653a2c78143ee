"""Entry point of sak-teacher-timm: any timm model with ``forward_intermediates`` and a token grid."""

from __future__ import annotations

from dataclasses import dataclass

from sak_core.plugin import Recipe, TeacherOptions, even_taps, hookimpl, hub_source, teacher_spec, timm_recipe

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

NAME = "timm"
DEFAULT_VARIANT = "vit_base_patch16_224.augreg_in21k_ft_in1k"


@dataclass(frozen=True)
class TimmOptions(TeacherOptions):
    """Options of the ``timm`` teacher (see docs/teachers.md).

    variant: a timm model name, with or without its pretrained tag
        (``vit_base_patch16_siglip_224.webli``); ``timm:NAME`` on the command line sets it.
    taps: block indices to distil (default: four evenly spaced blocks ending at the last).
    faithful: True runs the image as given, cropping what the patch grid does not cover;
        False resizes to the nearest multiple of the patch size first.
    """

    variant: str = DEFAULT_VARIANT
    taps: tuple[int, ...] | None = None


def resolve(options: TimmOptions) -> Recipe:
    """The model's shape is read from a weightless copy on PyTorch's meta device."""
    return timm_recipe(options, options.variant, taps=options.taps, label=f"{NAME}:{options.variant}",
                       description=f"timm {options.variant}")


# The default variant, written out so that registering it does not import timm.
DEFAULT = Recipe(
    model=DEFAULT_VARIANT, feature_dim=768, tap_indices=even_taps(12), patch_size=16, input_size=(224, 224),
    mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
    weights=(hub_source(f"timm/{DEFAULT_VARIANT}", "model.safetensors", f"{DEFAULT_VARIANT}.safetensors",
                        "apache-2.0"),),
    description=f"any timm ViT: --teachers timm:MODEL_NAME (default {DEFAULT_VARIANT})",
)
SPEC = teacher_spec(NAME, TimmOptions, resolve, default=DEFAULT)


@hookimpl
def sak_register_teachers(register):
    register(SPEC)

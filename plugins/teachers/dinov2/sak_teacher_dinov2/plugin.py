"""Entry point of sak-teacher-dinov2: timm's DINOv2 ViTs, tapped at four evenly spaced blocks."""

from __future__ import annotations

from dataclasses import dataclass

from sak_core.plugin import (
    Recipe,
    Shape,
    TeacherOptions,
    WeightSource,
    hookimpl,
    hub_source,
    pick,
    teacher_spec,
    timm_recipe,
)

from sak_teacher_dinov2.layouts import TRANSFORMERS

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

NAME = "dinov2"
# size -> shape at the resolution its position embeddings were trained at (518 px, /14 grid)
SIZES = {s: Shape(dim, depth, 14, (518, 518)) for s, dim, depth in
         (("small", 384, 12), ("base", 768, 12), ("large", 1024, 24), ("giant", 1536, 40))}


@dataclass(frozen=True)
class DinoV2Options(TeacherOptions):
    """Options of the ``dinov2`` teacher (see docs/teachers.md).

    size: small / base / large / giant (``variant`` is an alias, so ``dinov2:large`` works).
    faithful: True runs the image as given (the /14 grid drops the pixels past the last full
        patch, as the reference does); False first resizes to the nearest multiple of 14.
    """

    size: str = "base"


def resolve(options: DinoV2Options) -> Recipe:
    """The timm model of the chosen size; weights from timm's Hub copy, the ``transformers`` copy
    (``facebook/dinov2-SIZE``, renamed on the fly) or the original release."""
    size = options.variant or options.size
    shape = pick(NAME, "size", SIZES, size)
    model, release = f"vit_{size}_patch14_dinov2.lvd142m", f"dinov2_vit{size[0]}14"
    sources = (
        hub_source(f"timm/{model}", "model.safetensors", f"{model}.safetensors", "apache-2.0"),
        hub_source(f"facebook/dinov2-{size}", "model.safetensors", f"dinov2-{size}.safetensors", "apache-2.0"),
        WeightSource(f"{release}_pretrain.pth",
                     f"https://dl.fbaipublicfiles.com/dinov2/{release}/{release}_pretrain.pth", "apache-2.0"),
    )
    return timm_recipe(options, model, shape, sources=sources, weight_layouts=(TRANSFORMERS,),
                       description=f"DINOv2 {size} ({model}), localized semantics")


SPEC = teacher_spec(NAME, DinoV2Options, resolve)


@hookimpl
def sak_register_teachers(register):
    register(SPEC)

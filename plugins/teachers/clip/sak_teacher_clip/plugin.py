"""Entry point of sak-teacher-clip: CLIP image towers from open_clip or timm's CLIP ports."""

from __future__ import annotations

from dataclasses import dataclass

from sak_core.plugin import (
    Recipe,
    TeacherOptions,
    even_taps,
    hookimpl,
    pick,
    teacher_spec,
    timm_recipe,
)

from sak_teacher_clip.layouts import TRANSFORMERS
from sak_teacher_clip.sources import OPENAI_MEAN, OPENAI_STD, open_clip_sources

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

NAME = "clip"
# backend -> default model name and pretrained tag; timm's is the paper's teacher
BACKENDS = {"open_clip": ("ViT-B-16", "laion2b_s34b_b88k"), "timm": ("vit_base_patch16_clip_384", "laion2b_ft_in12k_in1k")}


@dataclass(frozen=True)
class ClipOptions(TeacherOptions):
    """Options of the ``clip`` teacher (see docs/teachers.md).

    backend: ``"open_clip"`` (default) or ``"timm"``.
    variant: the model name of that backend (open_clip ``ViT-B-16``; timm
        ``vit_base_patch16_clip_384``); None picks the backend's default.
    pretrained: the pretrained tag (open_clip ``laion2b_s34b_b88k``; timm
        ``laion2b_ft_in12k_in1k``, the paper's teacher); None picks the backend's default.
    faithful: True gives the reference behaviour: ImageNet statistics instead of CLIP's own,
        and the pixels past the last full patch are dropped instead of resizing to fit the grid.
    arch: ``embed_dim``, ``depth``, ``num_heads``, ``img_size``, ``patch_size``, or the backend's own names.
    """

    backend: str = "open_clip"
    pretrained: str | None = None


def resolve(options: ClipOptions) -> Recipe:
    variant, tag = pick(NAME, "backend", BACKENDS, options.backend)
    variant, tag = options.variant or variant, options.pretrained or tag
    if options.backend == "timm":
        return timm_recipe(options, f"{variant}.{tag}", weight_layouts=(TRANSFORMERS,),
                           description=f"CLIP {variant}.{tag} (timm), object-level semantics")
    from sak_teacher_clip.open_clip_tower import recipe

    return recipe(options, variant, tag)


# The default, written out so that registering it does not import open_clip.
DEFAULT = Recipe("ViT-B-16", 768, even_taps(12), 16, (224, 224),
                 open_clip_sources("ViT-B-16", "laion2b_s34b_b88k", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K/"),
                 OPENAI_MEAN, OPENAI_STD, description="CLIP ViT-B-16 laion2b_s34b_b88k (open_clip), object-level semantics",
                 weight_layouts=(TRANSFORMERS,))
SPEC = teacher_spec(NAME, ClipOptions, resolve, default=DEFAULT)


@hookimpl
def sak_register_teachers(register):
    register(SPEC)

"""Entry point of sak-teacher-sam: SAM's image encoder, tapped at its global-attention blocks."""

from __future__ import annotations

from dataclasses import dataclass

from sak_core.plugin import (
    Recipe,
    SpecError,
    TeacherOptions,
    WeightSource,
    even_taps,
    hookimpl,
    hub_source,
    pick,
    teacher_spec,
    timm_weight_sources,
)

from sak_teacher_sam.layouts import TRANSFORMERS

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

NAME = "sam"
BACKENDS = {"segment_anything": "sak_teacher_sam.encoders:SegmentAnythingTeacher",
            "timm": "sak_teacher_sam.encoders:SamTeacher"}
# size -> embed_dim, depth, num_heads, global-attention blocks, official release file, timm name
SIZES = {
    "vit_b": (768, 12, 12, (2, 5, 8, 11), "sam_vit_b_01ec64.pth", "samvit_base_patch16.sa1b"),
    "vit_l": (1024, 24, 16, (5, 11, 17, 23), "sam_vit_l_0b3195.pth", "samvit_large_patch16.sa1b"),
    "vit_h": (1280, 32, 16, (7, 15, 23, 31), "sam_vit_h_4b8939.pth", "samvit_huge_patch16.sa1b"),
}
_HF_SIZE = {"vit_b": "base", "vit_l": "large", "vit_h": "huge"}  # facebook/sam-vit-base, ... (transformers)


@dataclass(frozen=True)
class SamOptions(TeacherOptions):
    """Options of the ``sam`` teacher (see docs/teachers.md).

    size: vit_b / vit_l / vit_h (``variant`` is an alias, so ``sam:vit_l`` works).
    backend: ``"segment_anything"`` (default, the official encoder) or ``"timm"`` (samvit).
    input_size: the longest side is resized to it, then zero-padded to a square; a multiple of 16
        (default the encoder's ``img_size``: 1024, as the paper; smaller is faster, docs/teachers.md).
    faithful: True reports no valid region (the reference stretches the padded grid over the
        student grid) and keeps timm's LayerNorm eps (1e-5) in the timm backend.
    arch: also ``global_attn_indexes`` and ``window_size``; the taps are the global-attention blocks.
    """

    size: str = "vit_b"
    backend: str = "segment_anything"
    input_size: int | None = None


def resolve(options: SamOptions) -> Recipe:
    size = options.variant or options.size
    dim, depth, heads, global_attn, release, timm_name = pick(NAME, "size", SIZES, size)
    module = pick(NAME, "backend", BACKENDS, options.backend)
    arch = dict(options.arch or {})
    if "depth" in arch and "global_attn_indexes" not in arch:
        arch["global_attn_indexes"] = sorted(set(even_taps(int(arch["depth"]))))
    arch = {"img_size": 1024, "patch_size": 16, "embed_dim": dim, "depth": depth, "num_heads": heads,
            "global_attn_indexes": global_attn, "window_size": 14, **arch}
    side, patch = int(options.input_size or arch["img_size"]), int(arch["patch_size"])
    if side < patch or side % patch:
        raise SpecError(f"teacher '{NAME}' input_size={side} must be a multiple of its patch size {patch}")
    # both backends read the official file, timm's Hub copy and the transformers copy (renamed on the fly)
    official = WeightSource(release, f"https://dl.fbaipublicfiles.com/segment_anything/{release}", "apache-2.0")
    hf_name = f"sam-vit-{_HF_SIZE[size]}"  # sam-vit-base, ...
    transformers = hub_source(f"facebook/{hf_name}", "model.safetensors", f"{hf_name}.safetensors", "apache-2.0")
    timm_copy = timm_weight_sources(timm_name) if options.backend == "timm" else (
        hub_source(f"timm/{timm_name}", "model.safetensors", f"{timm_name}.safetensors", "apache-2.0"),)
    sources = (*timm_copy, transformers) if options.backend == "timm" else (official, *timm_copy, transformers)
    return Recipe(timm_name.split(".")[0], int(arch["embed_dim"]), tuple(arch["global_attn_indexes"]), patch,
                  (side, side), sources, model_args=arch, module=module, weight_layouts=(TRANSFORMERS,),
                  description=f"SAM {size} image encoder ({options.backend}) at {side} px, masks and boundaries")


SPEC = teacher_spec(NAME, SamOptions, resolve)


@hookimpl
def sak_register_teachers(register):
    register(SPEC)

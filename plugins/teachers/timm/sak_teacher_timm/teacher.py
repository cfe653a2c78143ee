"""The generic timm teacher: any timm model with ``forward_intermediates`` and a token grid."""

from __future__ import annotations

import dataclasses
import difflib
import functools
from dataclasses import dataclass, field
from typing import Any

import torch

from sak_core.errors import SpecError
from sak_core.specs import IMAGENET_MEAN, IMAGENET_STD, TeacherSpec
from sak_core.teachers import (
    Teacher,
    TeacherOutput,
    even_taps,
    fit_to_patch_grid,
    parse_options,
    take_levels,
    timm_block_maps,
)
from sak_core.weights import hub_source, load_timm_weights, resolve_weights, timm_weight_sources

NAME = "timm"
DEFAULT_VARIANT = "vit_base_patch16_224.augreg_in21k_ft_in1k"


@dataclass(frozen=True)
class TimmOptions:
    """Options of the ``timm`` teacher (see docs/teachers.md).

    variant: a timm model name, with or without its pretrained tag
        (``vit_base_patch16_siglip_224.webli``); ``timm:NAME`` on the command line sets it.
    taps: block indices to distil (default: four evenly spaced blocks ending at the last).
    weights: None (cache or download), ``"random"``, or a file path.
    faithful: True runs the image as given, cropping what the patch grid does not cover;
        False resizes to the nearest multiple of the patch size first.
    arch: architecture overrides passed to ``timm.create_model``.
    input_mean, input_std: the normalisation of the images the teacher receives.
    """

    variant: str = DEFAULT_VARIANT
    taps: tuple[int, ...] | None = None
    weights: Any = None
    faithful: bool = False
    arch: dict[str, Any] = field(default_factory=dict)
    input_mean: tuple[float, float, float] = IMAGENET_MEAN
    input_std: tuple[float, float, float] = IMAGENET_STD


@dataclass(frozen=True)
class _Shape:
    """What a timm model looks like, read from a weightless copy on the meta device."""

    embed_dim: int
    depth: int
    patch_size: int
    input_size: tuple[int, int]
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    dynamic_img_size: bool


@functools.lru_cache(maxsize=32)
def _shape(variant: str, arch_items: tuple[tuple[str, Any], ...]) -> _Shape:
    import timm

    try:
        with torch.device("meta"):  # no memory, no weights: only the module structure
            model = timm.create_model(variant, pretrained=False, **dict(arch_items))
    except RuntimeError as exc:
        if "Unknown model" not in str(exc):
            raise
        close = difflib.get_close_matches(variant.split(".")[0], timm.list_models(), n=3)
        raise SpecError(
            f"timm has no model '{variant}'" + (f"; similar names: {', '.join(close)}" if close else "")
            + ". List them with python -c \"import timm; print(timm.list_models('vit_*'))\""
        ) from None
    blocks = getattr(model, "blocks", None)
    patch_embed = getattr(model, "patch_embed", None)
    if blocks is None or patch_embed is None or not hasattr(model, "forward_intermediates"):
        raise SpecError(
            f"timm model '{variant}' is not ViT-like (it needs .blocks, .patch_embed and "
            "forward_intermediates): choose a ViT such as vit_base_patch16_224"
        )
    patch = patch_embed.patch_size
    cfg = model.pretrained_cfg
    size = cfg.get("input_size", (3, 224, 224))[-2:]
    return _Shape(
        embed_dim=int(getattr(model, "embed_dim", model.num_features)),
        depth=len(blocks),
        patch_size=int(patch[0] if isinstance(patch, (tuple, list)) else patch),
        input_size=(int(size[0]), int(size[1])),
        mean=tuple(cfg.get("mean", IMAGENET_MEAN)),
        std=tuple(cfg.get("std", IMAGENET_STD)),
        dynamic_img_size=hasattr(model, "dynamic_img_size"),
    )


def _spec_for(opts: TimmOptions) -> TeacherSpec:
    arch = dict(opts.arch or {})
    shape = _shape(opts.variant, tuple(sorted(arch.items())))
    taps = tuple(opts.taps) if opts.taps is not None else even_taps(shape.depth)
    bad = [t for t in taps if not 0 <= t < shape.depth]
    if bad or not taps:
        raise SpecError(
            f"teacher '{NAME}:{opts.variant}' has {shape.depth} blocks; taps {list(taps)} must be "
            f"indices in 0..{shape.depth - 1}"
        )
    return dataclasses.replace(
        SPEC,
        feature_dim=shape.embed_dim,
        tap_indices=taps,
        patch_size=shape.patch_size,
        input_size=shape.input_size,
        mean=shape.mean,
        std=shape.std,
        weights=timm_weight_sources(opts.variant),
        description=f"timm {opts.variant}",
    )


def configure(**options: Any) -> TeacherSpec:
    """The spec of the timm model ``options`` choose (read from a weightless meta-device copy)."""
    return _spec_for(parse_options(TimmOptions, NAME, options))


def create(**options: Any) -> TimmTeacher:
    """Build the frozen timm teacher ``options`` choose."""
    return TimmTeacher(parse_options(TimmOptions, NAME, options))


class TimmTeacher(Teacher):
    """A timm ViT; returns the raw outputs of its tap blocks (no final norm, no prefix tokens)."""

    def __init__(self, options: TimmOptions) -> None:
        spec = _spec_for(options)
        super().__init__(spec, options.input_mean, options.input_std, options.faithful)
        import timm

        arch = dict(options.arch or {})
        if _shape(options.variant, tuple(sorted(arch.items()))).dynamic_img_size:
            arch.setdefault("dynamic_img_size", True)  # resample position embeddings per input grid
        self.model = timm.create_model(options.variant, pretrained=False, **arch)
        label = f"{NAME}:{options.variant}"
        path = resolve_weights(label, options.weights, spec.weights)
        if path is not None:
            load_timm_weights(self.model, path, label)
        self.freeze()

    def extract(self, images: torch.Tensor) -> TeacherOutput:
        x = self.renormalize(images)
        x = fit_to_patch_grid(x, self.spec.patch_size, crop=self.faithful)  # B x 3 x ph x pw

        return TeacherOutput(take_levels(lambda indices: timm_block_maps(self.model, x, indices), self.spec.tap_indices))


SPEC = TeacherSpec(
    name=NAME,
    factory=create,
    feature_dim=768,
    tap_indices=even_taps(12),
    patch_size=16,
    input_size=(224, 224),
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    weights=(
        hub_source(f"timm/{DEFAULT_VARIANT}", "model.safetensors", f"{DEFAULT_VARIANT}.safetensors", "apache-2.0"),
    ),
    configure=configure,
    description="any timm ViT: --teachers timm:MODEL_NAME (default vit_base_patch16_224.augreg_in21k_ft_in1k)",
)

"""The DINOv2 teacher: timm's DINOv2 ViTs, tapped at four evenly spaced blocks."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from sak_core.specs import IMAGENET_MEAN, IMAGENET_STD, TeacherSpec, WeightSource
from sak_core.teachers import (
    Teacher,
    TeacherOutput,
    even_taps,
    fit_to_patch_grid,
    parse_options,
    take_levels,
    timm_block_maps,
)
from sak_core.weights import hub_source, load_timm_weights, resolve_weights

NAME = "dinov2"
PATCH_SIZE = 14
NATIVE_SIZE = 518  # the resolution DINOv2's position embeddings were trained at
TAG = "lvd142m"


@dataclass(frozen=True)
class Size:
    """One DINOv2 size: its timm architecture and shape."""

    arch: str
    embed_dim: int
    depth: int
    release: str  # directory and file stem of the original facebookresearch release

    @property
    def model_name(self) -> str:
        return f"{self.arch}.{TAG}"

    def sources(self) -> tuple[WeightSource, ...]:
        url = f"https://dl.fbaipublicfiles.com/dinov2/{self.release}/{self.release}_pretrain.pth"
        return (
            hub_source(f"timm/{self.model_name}", "model.safetensors", f"{self.model_name}.safetensors", "apache-2.0"),
            WeightSource(f"{self.release}_pretrain.pth", url, "apache-2.0"),
        )


SIZES = {
    "small": Size("vit_small_patch14_dinov2", 384, 12, "dinov2_vits14"),
    "base": Size("vit_base_patch14_dinov2", 768, 12, "dinov2_vitb14"),
    "large": Size("vit_large_patch14_dinov2", 1024, 24, "dinov2_vitl14"),
    "giant": Size("vit_giant_patch14_dinov2", 1536, 40, "dinov2_vitg14"),
}


@dataclass(frozen=True)
class DinoV2Options:
    """Options of the ``dinov2`` teacher (see docs/teachers.md).

    size: small / base / large / giant (``variant`` is an alias, so ``dinov2:large`` works).
    weights: None (cache or download), ``"random"``, or a file path.
    faithful: True runs the image as given (the /14 grid drops the pixels past the last full
        patch, as the reference does); False first resizes to the nearest multiple of 14.
    arch: timm architecture overrides (``embed_dim``, ``depth``, ``num_heads``, ``img_size``...).
    input_mean, input_std: the normalisation of the images the teacher receives.
    """

    size: str = "base"
    variant: str | None = None
    weights: Any = None
    faithful: bool = False
    arch: dict[str, Any] = field(default_factory=dict)
    input_mean: tuple[float, float, float] = IMAGENET_MEAN
    input_std: tuple[float, float, float] = IMAGENET_STD

    def resolved_size(self) -> Size:
        key = self.variant or self.size
        if key not in SIZES:
            from sak_core.errors import SpecError

            raise SpecError(f"teacher '{NAME}' has no size '{key}': choose one of {', '.join(SIZES)}")
        return SIZES[key]


def _spec_for(opts: DinoV2Options) -> TeacherSpec:
    size = opts.resolved_size()
    arch = dict(opts.arch or {})
    depth = int(arch.get("depth", size.depth))
    # The real sizes tap the method's blocks; a shallower test variant taps evenly too.
    taps = even_taps(depth)
    return dataclasses.replace(
        SPEC,
        feature_dim=int(arch.get("embed_dim", size.embed_dim)),
        tap_indices=taps,
        patch_size=int(arch.get("patch_size", PATCH_SIZE)),
        weights=size.sources(),
        description=f"DINOv2 {opts.variant or opts.size} ({size.model_name}), localized semantics",
    )


def configure(**options: Any) -> TeacherSpec:
    """The spec of the DINOv2 variant ``options`` choose; builds nothing."""
    return _spec_for(parse_options(DinoV2Options, NAME, options))


def create(**options: Any) -> DinoV2Teacher:
    """Build the frozen DINOv2 teacher ``options`` choose."""
    return DinoV2Teacher(parse_options(DinoV2Options, NAME, options))


class DinoV2Teacher(Teacher):
    """DINOv2 ViT; returns the raw outputs of its tap blocks (no final norm, no prefix tokens)."""

    def __init__(self, options: DinoV2Options) -> None:
        spec = _spec_for(options)
        super().__init__(spec, options.input_mean, options.input_std, options.faithful)
        import timm

        size = options.resolved_size()
        # dynamic_img_size: position embeddings are resampled to whatever grid the input gives.
        self.model = timm.create_model(size.arch, pretrained=False, dynamic_img_size=True, **(options.arch or {}))
        path = resolve_weights(NAME, options.weights, spec.weights)
        if path is not None:
            load_timm_weights(self.model, path, NAME, hint=f"Sources: {', '.join(s.url for s in spec.weights)}")
        self.freeze()

    def extract(self, images: torch.Tensor) -> TeacherOutput:
        x = self.renormalize(images)
        x = fit_to_patch_grid(x, self.spec.patch_size, crop=self.faithful)  # B x 3 x 14h x 14w

        return TeacherOutput(take_levels(lambda indices: timm_block_maps(self.model, x, indices), self.spec.tap_indices))


SPEC = TeacherSpec(
    name=NAME,
    factory=create,
    feature_dim=SIZES["base"].embed_dim,
    tap_indices=even_taps(SIZES["base"].depth),
    patch_size=PATCH_SIZE,
    input_size=(NATIVE_SIZE, NATIVE_SIZE),
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    weights=SIZES["base"].sources(),
    configure=configure,
    description="DINOv2 ViT-B/14 (timm vit_base_patch14_dinov2.lvd142m), localized semantics",
)

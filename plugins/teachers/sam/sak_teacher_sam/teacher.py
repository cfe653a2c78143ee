"""The SAM teacher: resize-longest-side and pad as SAM does, tap the global-attention blocks."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from sak_core.errors import SpecError
from sak_core.specs import IMAGENET_MEAN, IMAGENET_STD, TeacherSpec
from sak_core.teachers import Teacher, TeacherOutput, even_taps, parse_options, take_levels
from sak_core.weights import resolve_weights, timm_weight_sources
from sak_teacher_sam import backend_segment_anything, backend_timm
from sak_teacher_sam.sizes import IMG_SIZE, PATCH_SIZE, SIZES, Size

NAME = "sam"
BACKENDS = ("segment_anything", "timm")


@dataclass(frozen=True)
class SamOptions:
    """Options of the ``sam`` teacher (see docs/teachers.md).

    size: vit_b / vit_l / vit_h (``variant`` is an alias, so ``sam:vit_l`` works).
    backend: ``"segment_anything"`` (default, the official encoder) or ``"timm"`` (samvit).
    weights: None (cache or download), ``"random"``, or a file path (either layout).
    faithful: True reports no valid region (the reference stretches the padded grid over the
        student grid) and keeps timm's LayerNorm eps (1e-5) in the timm backend; False reports
        the part of the grid that covers the image and uses SAM's eps (1e-6) in both backends.
    arch: architecture overrides (``embed_dim``, ``depth``, ``num_heads``, ``img_size``,
        ``global_attn_indexes``, ``window_size``, ...); the taps are the global-attention blocks.
    input_mean, input_std: the normalisation of the images the teacher receives.
    """

    size: str = "vit_b"
    variant: str | None = None
    backend: str = "segment_anything"
    weights: Any = None
    faithful: bool = False
    arch: dict[str, Any] = field(default_factory=dict)
    input_mean: tuple[float, float, float] = IMAGENET_MEAN
    input_std: tuple[float, float, float] = IMAGENET_STD

    def resolved_size(self) -> Size:
        key = self.variant or self.size
        if key not in SIZES:
            raise SpecError(f"teacher '{NAME}' has no size '{key}': choose one of {', '.join(SIZES)}")
        if self.backend not in BACKENDS:
            raise SpecError(f"teacher '{NAME}' has no backend '{self.backend}': choose one of {', '.join(BACKENDS)}")
        return SIZES[key]

    def resolved_arch(self) -> dict[str, Any]:
        """The full architecture: the size's defaults with ``arch`` applied."""
        size = self.resolved_size()
        arch = dict(self.arch or {})
        if "depth" in arch and "global_attn_indexes" not in arch:
            arch["global_attn_indexes"] = tuple(sorted(set(even_taps(int(arch["depth"])))))
        resolved = {
            "img_size": IMG_SIZE,
            "patch_size": PATCH_SIZE,
            "embed_dim": size.embed_dim,
            "depth": size.depth,
            "num_heads": size.num_heads,
            "global_attn_indexes": size.global_attn_indexes,
            "window_size": 14,
            **arch,
        }
        resolved["global_attn_indexes"] = tuple(resolved["global_attn_indexes"])
        return resolved


def _spec_for(opts: SamOptions) -> TeacherSpec:
    size = opts.resolved_size()
    arch = opts.resolved_arch()
    if opts.backend == "timm":
        sources = timm_weight_sources(size.timm_name)
    else:
        sources = (size.release(),)
    img = int(arch["img_size"])
    return dataclasses.replace(
        SPEC,
        feature_dim=int(arch["embed_dim"]),
        tap_indices=arch["global_attn_indexes"],
        patch_size=int(arch["patch_size"]),
        input_size=(img, img),
        weights=sources,
        description=f"SAM {opts.variant or opts.size} image encoder ({opts.backend}), masks and boundaries",
    )


def configure(**options: Any) -> TeacherSpec:
    """The spec of the SAM variant ``options`` choose; builds nothing."""
    return _spec_for(parse_options(SamOptions, NAME, options))


def create(**options: Any) -> SamTeacher:
    """Build the frozen SAM teacher ``options`` choose."""
    return SamTeacher(parse_options(SamOptions, NAME, options))


def resize_longest_side(images: torch.Tensor, img_size: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Resize so the longer side is ``img_size`` and zero-pad bottom/right to a square, as SAM
    prepares its input. Returns the ``img_size`` square and the (h, w) of the resized image."""
    h, w = images.shape[-2:]
    scale = img_size / max(h, w)
    new_h, new_w = int(h * scale + 0.5), int(w * scale + 0.5)
    if (new_h, new_w) != (h, w):
        images = F.interpolate(images, size=(new_h, new_w), mode="bicubic", align_corners=False)
    return F.pad(images, (0, img_size - new_w, 0, img_size - new_h)), (new_h, new_w)


class SamTeacher(Teacher):
    """SAM's image encoder; returns the raw outputs of its global-attention blocks (no neck)."""

    def __init__(self, options: SamOptions) -> None:
        spec = _spec_for(options)
        super().__init__(spec, options.input_mean, options.input_std, options.faithful)
        size, arch = options.resolved_size(), options.resolved_arch()
        if options.backend == "timm":
            self._backend = backend_timm
            self.encoder = backend_timm.build(size.timm_arch, arch, options.faithful)
        else:
            self._backend = backend_segment_anything
            self.encoder = backend_segment_anything.build(arch)
        self.img_size = int(arch["img_size"])
        path = resolve_weights(NAME, options.weights, spec.weights)
        if path is not None:
            self._backend.load(self.encoder, path, NAME, hint=f"Sources: {', '.join(s.url for s in spec.weights)}")
        self.freeze()

    def extract(self, images: torch.Tensor) -> TeacherOutput:
        x = self.renormalize(images)
        # Zero padding after normalisation is what SAM does (the padding is the mean colour).
        x, (h, w) = resize_longest_side(x, self.img_size)  # B x 3 x S x S
        maps = take_levels(lambda idx: self._backend.run_blocks(self.encoder, x, idx), self.spec.tap_indices)
        grid = self.img_size // self.spec.patch_size
        valid = (math.ceil(h / self.spec.patch_size), math.ceil(w / self.spec.patch_size))
        valid_size = None if self.faithful or valid == (grid, grid) else valid
        return TeacherOutput(maps, valid_size)


SPEC = TeacherSpec(
    name=NAME,
    factory=create,
    feature_dim=SIZES["vit_b"].embed_dim,
    tap_indices=SIZES["vit_b"].global_attn_indexes,
    patch_size=PATCH_SIZE,
    input_size=(IMG_SIZE, IMG_SIZE),
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    weights=(SIZES["vit_b"].release(),),
    configure=configure,
    description="SAM ViT-B image encoder (segment-anything sam_vit_b_01ec64.pth), masks and boundaries",
)

"""The CLIP teacher: options, spec and the frozen module; the backends live in their own modules."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from sak_core.errors import SpecError
from sak_core.specs import IMAGENET_MEAN, IMAGENET_STD, TeacherSpec
from sak_core.teachers import Teacher, TeacherOutput, even_taps, fit_to_patch_grid, parse_options, take_levels
from sak_core.weights import resolve_weights
from sak_teacher_clip.backend_open_clip import default_sources

NAME = "clip"
BACKENDS = ("open_clip", "timm")
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class ClipOptions:
    """Options of the ``clip`` teacher (see docs/teachers.md).

    backend: ``"open_clip"`` (default) or ``"timm"``.
    variant: the model name of that backend (open_clip ``ViT-B-16``; timm
        ``vit_base_patch16_clip_384``); None picks the backend's default.
    pretrained: the pretrained tag (open_clip ``laion2b_s34b_b88k``; timm
        ``laion2b_ft_in12k_in1k``, the paper's teacher); None picks the backend's default.
    weights: None (cache or download), ``"random"``, or a file path.
    faithful: True gives the reference behaviour: ImageNet statistics instead of CLIP's own,
        and the pixels past the last full patch are dropped instead of resizing to fit the grid.
    arch: architecture overrides (``embed_dim``, ``depth``, ``num_heads``, ``img_size``,
        ``patch_size``, or the backend's own argument names).
    input_mean, input_std: the normalisation of the images the teacher receives.
    """

    backend: str = "open_clip"
    variant: str | None = None
    pretrained: str | None = None
    weights: Any = None
    faithful: bool = False
    arch: dict[str, Any] = field(default_factory=dict)
    input_mean: tuple[float, float, float] = IMAGENET_MEAN
    input_std: tuple[float, float, float] = IMAGENET_STD


def _backend(opts: ClipOptions):
    from sak_teacher_clip import backend_open_clip, backend_timm

    backends = {"open_clip": backend_open_clip, "timm": backend_timm}
    if opts.backend not in backends:
        raise SpecError(f"teacher '{NAME}' has no backend '{opts.backend}': choose one of {', '.join(BACKENDS)}")
    return backends[opts.backend]


def _spec_for(opts: ClipOptions) -> TeacherSpec:
    backend = _backend(opts)
    shape = backend.describe(opts.variant, opts.pretrained, dict(opts.arch or {}))
    return dataclasses.replace(
        SPEC,
        feature_dim=shape.embed_dim,
        tap_indices=even_taps(shape.depth),
        patch_size=shape.patch_size,
        input_size=shape.input_size,
        mean=shape.mean,
        std=shape.std,
        weights=shape.sources,
        description=f"CLIP {shape.label} ({opts.backend}), object-level semantics",
    )


def configure(**options: Any) -> TeacherSpec:
    """The spec of the CLIP variant ``options`` choose; builds nothing."""
    return _spec_for(parse_options(ClipOptions, NAME, options))


def create(**options: Any) -> ClipTeacher:
    """Build the frozen CLIP teacher ``options`` choose."""
    return ClipTeacher(parse_options(ClipOptions, NAME, options))


class ClipTeacher(Teacher):
    """A CLIP image tower; returns the raw outputs of its tap blocks (no final norm, no CLS)."""

    def __init__(self, options: ClipOptions) -> None:
        spec = _spec_for(options)
        super().__init__(spec, options.input_mean, options.input_std, options.faithful)
        backend = _backend(options)
        self.tower = backend.build(options.variant, options.pretrained, dict(options.arch or {}))
        path = resolve_weights(NAME, options.weights, spec.weights)
        if path is not None:
            backend.load(self.tower, path, NAME, hint=f"Sources: {', '.join(s.url for s in spec.weights)}")
        self._run_blocks = backend.run_blocks
        self.freeze()

    def extract(self, images: torch.Tensor) -> TeacherOutput:
        x = self.renormalize(images)
        x = fit_to_patch_grid(x, self.spec.patch_size, crop=self.faithful)  # B x 3 x ph x pw
        return TeacherOutput(take_levels(lambda idx: self._run_blocks(self.tower, x, idx), self.spec.tap_indices))


SPEC = TeacherSpec(
    name=NAME,
    factory=create,
    feature_dim=768,
    tap_indices=even_taps(12),
    patch_size=16,
    input_size=(224, 224),
    mean=OPENAI_MEAN,
    std=OPENAI_STD,
    weights=default_sources(),
    configure=configure,
    description="CLIP ViT-B-16 laion2b_s34b_b88k (open_clip), object-level semantics",
)

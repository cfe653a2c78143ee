"""Base class of teacher modules: frozen foundation models that return tapped features."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, TypeVar

import torch
from torch import nn

from sak_core.specs import IMAGENET_MEAN, IMAGENET_STD, TeacherSpec
from sak_core.taps import even_taps  # noqa: F401 (re-exported: teacher plugins import it from here)

T = TypeVar("T")


class TeacherOutput(NamedTuple):
    """What a teacher returns for a batch.

    features: one ``B x C x h x w`` map per tap level (raw block outputs, prefix tokens dropped,
        no final norm).
    valid_size: ``(h, w)`` of the top-left part of the grid that covers the image, or None when
        the whole grid does (SAM pads non-square images; the padding is not image).
    """

    features: list[torch.Tensor]
    valid_size: tuple[int, int] | None = None


class Teacher(nn.Module):
    """A frozen teacher. Subclasses implement :meth:`extract`.

    Images reach the teacher normalised with ``input_mean`` / ``input_std`` (the data pipeline's
    normalisation, ImageNet by default); :meth:`renormalize` converts them to the teacher's own
    normalisation unless ``faithful=True`` asks for the reference behaviour (every teacher gets
    ImageNet statistics).
    """

    def __init__(
        self,
        spec: TeacherSpec,
        input_mean: tuple[float, float, float] = IMAGENET_MEAN,
        input_std: tuple[float, float, float] = IMAGENET_STD,
        faithful: bool = False,
    ) -> None:
        super().__init__()
        self.spec = spec
        self.faithful = faithful
        self.register_buffer("_input_mean", torch.tensor(input_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_input_std", torch.tensor(input_std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_own_mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("_own_std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def feature_dim(self) -> int:
        return self.spec.feature_dim

    def freeze(self) -> Teacher:
        """No gradients, eval mode; called by subclasses once their weights are loaded."""
        for p in self.parameters():
            p.requires_grad_(False)
        return self.eval()

    def train(self, mode: bool = True) -> Teacher:
        """Teachers always stay in eval mode."""
        return super().train(False)

    def renormalize(self, images: torch.Tensor) -> torch.Tensor:
        """Images in the pipeline's normalisation -> the teacher's own (identity if faithful)."""
        if self.faithful or (
            torch.equal(self._input_mean, self._own_mean) and torch.equal(self._input_std, self._own_std)
        ):
            return images
        pixels = images * self._input_std + self._input_mean
        return (pixels - self._own_mean) / self._own_std

    def extract(self, images: torch.Tensor) -> TeacherOutput:
        """Tapped features of ``images`` (``B x 3 x H x W``, pipeline-normalised)."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> TeacherOutput:
        with torch.inference_mode():
            out = self.extract(images)
        # Inference tensors cannot be saved for backward; the loss needs ordinary tensors.
        return TeacherOutput([f.clone() for f in out.features], out.valid_size)


# -- helpers shared by teacher plugins ----------------------------------------------------------


def take_levels(
    run_blocks: Callable[[list[int]], list[torch.Tensor]], taps: Sequence[int]
) -> list[torch.Tensor]:
    """One map per tap index, from ``run_blocks(sorted unique indices)``.

    Library feature extractors return each block once even when an index repeats; this maps
    their outputs back onto ``taps`` (repeats share the same tensor).
    """
    unique = sorted(set(taps))
    maps = run_blocks(unique)
    if len(maps) != len(unique):
        raise RuntimeError(f"asked for blocks {unique} but got {len(maps)} feature maps")
    by_index = dict(zip(unique, maps))
    return [by_index[i] for i in taps]


def timm_block_maps(model: nn.Module, images: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
    """Raw outputs of a timm model's blocks ``indices`` via ``forward_intermediates``: each
    ``B x C x h x w``, prefix tokens dropped, no final norm."""
    return model.forward_intermediates(images, indices=indices, norm=False, output_fmt="NCHW", intermediates_only=True)


def fit_to_patch_grid(images: torch.Tensor, patch_size: int, crop: bool = False) -> torch.Tensor:
    """Make both sides of ``images`` (B x 3 x H x W) a multiple of ``patch_size``.

    Default: resize to the nearest multiple, so the token grid covers the whole image (384 px at
    /14 -> 378 px, 27 x 27 tokens). ``crop=True``: drop the pixels past the last full patch, which
    is what a fixed-size strided patch embedding does (the reference behaviour); an image smaller
    than one patch is resized either way.
    """
    h, w = images.shape[-2:]
    if crop and h >= patch_size and w >= patch_size:
        return images[..., : h // patch_size * patch_size, : w // patch_size * patch_size]
    new_h = max(1, int(h / patch_size + 0.5)) * patch_size
    new_w = max(1, int(w / patch_size + 0.5)) * patch_size
    if (new_h, new_w) == (h, w):
        return images
    return nn.functional.interpolate(images, size=(new_h, new_w), mode="bicubic", align_corners=False)


def parse_options(options_type: type[T], teacher: str, options: Mapping[str, Any]) -> T:
    """``options_type(**options)`` with an error that lists the accepted options on a typo."""
    accepted = [f.name for f in dataclasses.fields(options_type)]  # type: ignore[arg-type]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        from sak_core.errors import SpecError

        close = {u: difflib.get_close_matches(u, accepted, n=1) for u in unknown}
        hints = "".join(f" ('{u}': did you mean '{c[0]}'?)" for u, c in close.items() if c)
        raise SpecError(
            f"teacher '{teacher}' got unknown option(s) {', '.join(unknown)}{hints}; "
            f"it accepts: {', '.join(accepted)}"
        )
    return options_type(**options)

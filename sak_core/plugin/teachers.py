"""Teacher modules: the frozen base class, the one builder of plugin teachers, and their helpers.

Plugins describe a teacher with :mod:`sak_core.plugin.teacher_recipes` (cheap to import); this module is
imported when a teacher is built.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

from sak_core.errors import SpecError
from sak_core.plugin.specs import IMAGENET_MEAN, IMAGENET_STD, TeacherSpec
from sak_core.plugin.teacher_recipes import Recipe, TeacherOptions, even_taps, parse_options  # noqa: F401 (re-exported)


class TeacherOutput(NamedTuple):
    """What a teacher returns for a batch.

    features: one ``B x C x h x w`` map per tap level (raw block outputs, prefix tokens dropped,
        no final norm).
    valid_size: ``(h, w)`` of the top-left part of the grid that covers the image, or None when
        the whole grid does (a teacher that pads non-square images; the padding is not image).
    """

    features: list[torch.Tensor]
    valid_size: tuple[int, int] | None = None


class Teacher(nn.Module):
    """A frozen teacher. Subclasses implement :meth:`extract`; the network may be anything
    (a timm or other torch model, an ONNX session, a fixed function of the image).

    What the core does to a teacher (the contract):

    - it builds it with ``spec.create()`` and calls :meth:`place` once, with the device and one
      of ``spec.precisions`` (``optim.teacher_precision`` when the teacher declares it, else the
      first it declares that the device runs); it never casts the teacher otherwise;
    - it calls the teacher (:meth:`forward`) with a ``B x 3 x H x W`` batch normalised with
      ``input_mean`` / ``input_std`` (the data pipeline's normalisation, ImageNet by default),
      any H and W; :meth:`forward` casts the batch to the teacher's :attr:`dtype`, runs
      :meth:`extract` under ``torch.inference_mode()`` and returns its maps as ordinary float32
      tensors, one per level (``spec.levels``), which the loss compares with the student's;
    - it never trains it: :meth:`train` keeps eval mode.

    :meth:`renormalize` converts the images to the teacher's own normalisation unless
    ``faithful=True`` asks for the reference behaviour (every teacher gets ImageNet statistics).
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

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the teacher runs in (that of its buffers, which :meth:`place` sets)."""
        return self._input_mean.dtype

    def place(self, device: torch.device | str, precision: str = "fp32") -> Teacher:
        """Move the teacher to ``device`` and run it in ``precision``, one of ``spec.precisions``
        (a :class:`~sak_core.errors.SpecError` otherwise). The default casts the module's
        parameters and buffers; a teacher whose network is not a torch module (an ONNX session)
        overrides it to pick its own device and precision, and calls this for its buffers."""
        from sak_core.runtime.device import DTYPES

        if precision not in self.spec.precisions:
            raise SpecError(f"teacher '{self.name}' runs in {', '.join(self.spec.precisions)} (its spec's "
                            f"precisions), not {precision}")
        return self.to(device=device, dtype=DTYPES[precision]).eval()

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
        """:meth:`extract` of ``images`` in the teacher's dtype, features as float32 (see the class)."""
        with torch.inference_mode():
            out = self.extract(images.to(self.dtype))
        # Inference tensors cannot be saved for backward; the loss needs ordinary tensors.
        return TeacherOutput([f.to(torch.float32, copy=True) for f in out.features], out.valid_size)


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


class TimmTeacher(Teacher):
    """A frozen teacher built from a :class:`~sak_core.plugin.teacher_recipes.Recipe`; the one builder of
    the teacher plugins (timm's ``build_model_with_cfg`` idea).

    ``__init__`` builds the network (:meth:`build`, timm by default) as ``self.model``, finds its
    weights (:func:`~sak_core.weights.sources.resolve_weights`: ``weights=None|"random"|PATH``,
    ``$SAK_WEIGHTS``), loads them strictly (:meth:`load_weights`) and freezes it. :meth:`extract`
    renormalises the images, fits them to the grid (:meth:`prepare`) and taps the blocks
    (:meth:`run_blocks`). A teacher on another library overrides those four methods.
    """

    def __init__(self, spec: TeacherSpec, options: TeacherOptions, recipe: Recipe) -> None:
        super().__init__(spec, options.input_mean, options.input_std, options.faithful)
        from sak_core.weights.sources import resolve_weights

        self.recipe = recipe
        self.label = recipe.label or spec.name
        self.model = self.build()
        path = resolve_weights(self.label, options.weights, spec.weights)
        if path is not None:
            self.load_weights(path, hint=f"Sources: {', '.join(s.url or s.filename for s in spec.weights)}")
        self.freeze()

    def build(self) -> nn.Module:
        """The network with random weights."""
        import timm

        return timm.create_model(self.recipe.model, pretrained=False, **self.recipe.model_args)

    def load_weights(self, path: Path, hint: str = "") -> None:
        """Load the weights file ``path`` into ``self.model`` strictly (timm converts known layouts)."""
        from sak_core.weights.sources import load_timm_weights

        load_timm_weights(self.model, path, self.label, hint, self.spec.weight_layouts)

    def run_blocks(self, images: torch.Tensor, indices: list[int]) -> list[torch.Tensor]:
        """Raw outputs of blocks ``indices`` (sorted, unique), each ``B x C x h x w``."""
        return timm_block_maps(self.model, images, indices)

    def prepare(self, images: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int] | None]:
        """Renormalised images -> the model's input and the valid part of its grid (None: all)."""
        return fit_to_patch_grid(images, self.spec.patch_size, crop=self.faithful), None  # B x 3 x ph x pw

    def extract(self, images: torch.Tensor) -> TeacherOutput:
        x, valid_size = self.prepare(self.renormalize(images))
        return TeacherOutput(take_levels(lambda indices: self.run_blocks(x, indices), self.spec.tap_indices), valid_size)

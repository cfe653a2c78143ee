"""Base class of teacher modules: frozen foundation models that return tapped features."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from sak_core.specs import IMAGENET_MEAN, IMAGENET_STD, TeacherSpec


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

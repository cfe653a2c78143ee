"""How close a student's per-teacher maps are to the teachers' features (stage-1 scores).

Per teacher and tap level, over held-out images:

- ``cosine``: the cosine between an image's whole flattened student map (its adapter output,
  after the aligner) and the teacher's features, compared as the distillation loss compares
  them (:func:`sak_core.model.distill.level_pairs`, :func:`sak_core.model.distill.match_maps`): what the
  loss optimises.
- ``centred_cosine``: the same after taking from each map its own per-channel spatial mean.
  A map that is constant over the image in every channel (or all zero) scores 0, so this
  measures the spatial structure the student reproduces, which the plain cosine mostly does not.

Both are means over images of the per-image value.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from sak_core.model.distill import level_pairs, match_maps
from sak_core.plugin.teachers import TeacherOutput

COSINE = "cosine"
CENTRED_COSINE = "centred_cosine"
SCORES = (COSINE, CENTRED_COSINE)
# A centred map whose norm is below this fraction of the map's own norm is constant up to
# rounding: its centred cosine is 0, not the cosine of rounding noise.
_CONSTANT_TOLERANCE = 1e-6


def _cosine(a: torch.Tensor, b: torch.Tensor, scale_a: torch.Tensor, scale_b: torch.Tensor) -> torch.Tensor:
    """Per-row cosine of ``B x N`` rows; a row whose norm is at most ``_CONSTANT_TOLERANCE``
    times its ``scale`` (or zero) scores 0."""
    norm_a, norm_b = a.norm(dim=1), b.norm(dim=1)
    flat = (norm_a <= _CONSTANT_TOLERANCE * scale_a) | (norm_b <= _CONSTANT_TOLERANCE * scale_b)
    cosine = (a * b).sum(dim=1) / (norm_a * norm_b).clamp_min(torch.finfo(a.dtype).tiny)
    return torch.where(flat, torch.zeros_like(cosine), cosine)


def map_cosines(student: torch.Tensor, teacher: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-image ``(cosine, centred cosine)`` (each of shape ``B``) of two ``B x C x h x w``
    maps, matched in size as the loss matches them. Computed in float64."""
    student, teacher = match_maps(student.double(), teacher.double())
    s, t = student.flatten(1), teacher.flatten(1)  # B, C*h*w
    zero = s.new_zeros(s.shape[0])
    plain = _cosine(s, t, zero, zero)
    # B x C x h x w minus its B x C x 1 x 1 spatial mean, flattened to B, C*h*w
    s_c = (student - student.mean(dim=(2, 3), keepdim=True)).flatten(1)
    t_c = (teacher - teacher.mean(dim=(2, 3), keepdim=True)).flatten(1)
    centred = _cosine(s_c, t_c, s.norm(dim=1), t.norm(dim=1))
    return plain, centred


class AlignmentScores:
    """Accumulates :func:`map_cosines` over batches, per teacher and level."""

    def __init__(self, use_valid_region: bool = True) -> None:
        self.use_valid_region = use_valid_region
        self._sums: dict[tuple[str, int], torch.Tensor] = {}  # (teacher, level) -> [cosine, centred] sums
        self._counts: dict[tuple[str, int], int] = {}

    def update(self, student: Mapping[str, list[torch.Tensor]], teachers: Mapping[str, TeacherOutput]) -> None:
        """Add one batch: the student's per-teacher maps (``StudentOutput.distill``) and the
        teachers' outputs on the same images."""
        for name, level, s, t in level_pairs(student, teachers, self.use_valid_region):
            plain, centred = map_cosines(s.detach(), t.detach())
            sums = torch.stack([plain.sum(), centred.sum()]).cpu()
            key = (name, level)
            self._sums[key] = self._sums[key] + sums if key in self._sums else sums
            self._counts[key] = self._counts.get(key, 0) + plain.shape[0]

    def compute(self) -> dict[str, dict[str, float]]:
        """Teacher -> ``{"cosine", "centred_cosine"}`` (means over its levels), then
        ``"level{l}/cosine"`` and ``"level{l}/centred_cosine"`` for each level ``l`` in order."""
        levels: dict[str, list[list[float]]] = {}  # teacher -> per level [cosine, centred] means
        for (name, level), sums in sorted(self._sums.items()):
            levels.setdefault(name, []).append((sums / self._counts[(name, level)]).tolist())
        out: dict[str, dict[str, float]] = {}
        for name, means in levels.items():
            scores = {key: sum(m[i] for m in means) / len(means) for i, key in enumerate(SCORES)}
            for level, m in enumerate(means):
                scores.update({f"level{level}/{key}": float(m[i]) for i, key in enumerate(SCORES)})
            out[name] = scores
        return out

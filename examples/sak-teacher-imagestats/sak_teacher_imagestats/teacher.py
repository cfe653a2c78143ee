"""The ``imagestats`` teacher: :func:`image_statistics` wrapped in the teacher contract."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from sak_core.plugin import Recipe, Teacher, TeacherOutput, TeacherSpec, fit_to_patch_grid

SOBEL = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
LAPLACE = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


def _filter(x: torch.Tensor, kernel: tuple[tuple[float, ...], ...]) -> torch.Tensor:
    """Each channel of ``x`` (B x C x H x W) filtered with a 3 x 3 ``kernel``, edges replicated."""
    c = x.shape[1]
    weight = torch.tensor(kernel, dtype=x.dtype, device=x.device).expand(c, 1, 3, 3)  # C x 1 x 3 x 3
    return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), weight, groups=c)


def image_statistics(pixels: torch.Tensor, patch: int, bins: int, levels: int) -> list[torch.Tensor]:
    """Local statistics of ``pixels`` (``B x 3 x H x W`` in [0, 1], H and W multiples of
    ``patch``): one ``B x (10 + 3 bins) x H/patch x W/patch`` map per level, level ``l`` pooled
    over windows of ``patch * 2**l`` pixels centred on each grid cell.

    Channels: colour mean (3), colour standard deviation (3), Sobel gradient magnitude (3), the
    Laplacian's magnitude on grey (1), gradient orientation histograms weighted by magnitude
    (``bins`` per colour channel). Each image's maps depend on that image only.
    """
    b, _, h, w = pixels.shape
    gx, gy = _filter(pixels, SOBEL) / 8, _filter(pixels, tuple(zip(*SOBEL))) / 8  # B x 3 x H x W
    magnitude = (gx.square() + gy.square() + 1e-12).sqrt()
    laplace = _filter(pixels.mean(1, keepdim=True), LAPLACE).abs()  # B x 1 x H x W
    angle = torch.atan2(gy.float(), gx.float())  # B x 3 x H x W in [-pi, pi]; fp32 so bins do not shift
    index = ((angle + math.pi) / (2 * math.pi) * bins).long() % bins  # +pi and -pi: one direction, bin 0
    histogram = F.one_hot(index, bins).to(pixels.dtype) * magnitude.unsqueeze(-1)  # B x 3 x H x W x bins
    histogram = histogram.permute(0, 1, 4, 2, 3).reshape(b, 3 * bins, h, w)  # B x 3*bins x H x W
    per_pixel = torch.cat([pixels, pixels.square(), magnitude, laplace, histogram], 1)  # B x (13 + 3 bins) x H x W
    maps = []
    for level in range(levels):
        window = patch * 2**level
        pooled = F.avg_pool2d(per_pixel, window, stride=patch, padding=(window - patch) // 2,
                              count_include_pad=False)  # B x (13 + 3 bins) x H/patch x W/patch
        mean, square, rest = pooled[:, :3], pooled[:, 3:6], pooled[:, 6:]
        spread = (square - mean.square()).clamp(min=0).add(1e-6).sqrt()
        maps.append(torch.cat([mean, spread, rest], 1))
    return maps


class ImageStatsTeacher(Teacher):
    """No network: :meth:`extract` renormalises to pixel values, fits the image to the grid and
    returns :func:`image_statistics`. The base class does the rest of the contract (dtype,
    inference mode, float32 features); having no parameters, it has nothing to freeze or load."""

    def __init__(self, spec: TeacherSpec, options, recipe: Recipe) -> None:
        super().__init__(spec, options.input_mean, options.input_std, options.faithful)
        self.bins = int(options.bins)
        self.freeze()

    def extract(self, images: torch.Tensor) -> TeacherOutput:
        pixels = fit_to_patch_grid(self.renormalize(images), self.spec.patch_size)  # B x 3 x ph x pw
        return TeacherOutput(image_statistics(pixels, self.spec.patch_size, self.bins, self.spec.levels), None)

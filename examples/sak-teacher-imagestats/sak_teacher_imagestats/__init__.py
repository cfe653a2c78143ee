"""Example sak teacher plugin `imagestats`: a fixed function of the image, not a trained model.

Each level is a map of local image statistics on a grid of ``patch`` pixels, pooled over a window
that doubles from level to level (8, 16, 32, 64 px): colour mean and spread, gradient strength,
the Laplacian's strength and a histogram of gradient orientations per colour channel
(:func:`sak_teacher_imagestats.teacher.image_statistics`). It has no weights and no parameters,
so its spec says so (``has_weights=False``, ``random_init=False``); it runs in fp32 and bf16.
Registering it imports neither torch nor the teacher's code (``module`` names it as a string).
"""

from __future__ import annotations

from dataclasses import dataclass

from sak_core.plugin import Recipe, SpecError, TeacherOptions, hookimpl, teacher_spec

SAK_API = ">=1.0,<2"  # the sak plugin API versions this plugin is built for (docs/plugins/api.md)

NAME = "imagestats"
PIXELS = ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))  # the statistics are of pixel values in [0, 1]


def width(bins: int) -> int:
    """Channels per level: colour mean, spread and gradient strength (3 each), the Laplacian's
    strength (1), and ``bins`` orientation bins per colour channel."""
    return 10 + 3 * bins


@dataclass(frozen=True)
class ImageStatsOptions(TeacherOptions):
    """``bins``: gradient orientation bins over 360 degrees (18 gives 64 channels, the demo stem's
    width); ``levels``: windows of ``patch``, 2 x ``patch``, 4 x ``patch``...; ``patch``: grid pixels."""

    bins: int = 18
    levels: int = 4
    patch: int = 8


def resolve(options: ImageStatsOptions) -> Recipe:
    for key in ("bins", "levels", "patch"):
        if int(getattr(options, key)) < 1:
            raise SpecError(f"teacher '{NAME}': {key} must be a positive integer, got {getattr(options, key)!r}")
    return Recipe(
        model="image-statistics", feature_dim=width(options.bins), tap_indices=tuple(range(options.levels)),
        patch_size=options.patch, input_size=(224, 224), mean=PIXELS[0], std=PIXELS[1],
        module="sak_teacher_imagestats.teacher:ImageStatsTeacher",
        precisions=("fp32", "bf16"), random_init=False, has_weights=False,
        description=f"multi-scale colour and gradient statistics, {options.levels} levels (example plugin)",
    )


SPEC = teacher_spec(NAME, ImageStatsOptions, resolve)


@hookimpl
def sak_register_teachers(register):
    register(SPEC)

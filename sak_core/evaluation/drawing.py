"""Small PIL drawing helpers shared by prediction grids and router charts (no matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
MUTED = (120, 120, 120)

# Qualitative colours for experts (the stem first, then teachers), distinct in hue and lightness.
SERIES_COLOURS = (
    (120, 120, 120),  # grey: the teacher-agnostic stem
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (188, 189, 34),
    (23, 190, 207),
)


@lru_cache(maxsize=8)
def font(size: int = 14) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled font at ``size`` (a bitmap font on Pillow builds without FreeType)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # old Pillow or no FreeType
        return ImageFont.load_default()


def text_size(text: str, size: int = 14) -> tuple[int, int]:
    """(width, height) of ``text`` in :func:`font` ``size``."""
    left, top, right, bottom = font(size).getbbox(text)
    return int(right - left), int(bottom - top)


def fit_within(array: np.ndarray, max_side: int, min_side: int = 0) -> Image.Image:
    """``H x W x 3`` uint8 -> PIL image scaled (nearest, so label colours stay exact) so that its
    longest side lies between ``min_side`` and ``max_side``."""
    image = Image.fromarray(np.ascontiguousarray(array).astype(np.uint8), mode="RGB")
    longest = max(image.size)
    scale = min(max_side / longest, max(1.0, min_side / longest))
    if scale != 1:
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.NEAREST)
    return image


def placeholder(size: tuple[int, int], message: str) -> Image.Image:
    """A light grey ``(width, height)`` panel with a centred note."""
    image = Image.new("RGB", size, (235, 235, 235))
    draw = ImageDraw.Draw(image)
    w, h = text_size(message, 12)
    draw.text(((size[0] - w) // 2, (size[1] - h) // 2), message, fill=MUTED, font=font(12))
    return image


def panel_grid(
    rows: Sequence[Sequence[tuple[str, Image.Image | None]]], gap: int = 6, label_size: int = 14
) -> Image.Image:
    """Lay out labelled panels in rows; ``None`` leaves a cell empty. Columns are as wide as their
    widest panel, rows as tall as their tallest."""
    columns = max(len(r) for r in rows)
    widths = [0] * columns
    heights = [0] * len(rows)
    label_h = text_size("Ag", label_size)[1] + 6
    for r, row in enumerate(rows):
        for c, (label, panel) in enumerate(row):
            if panel is not None:
                widths[c] = max(widths[c], panel.width, text_size(label, label_size)[0])
                heights[r] = max(heights[r], panel.height)
    total_w = sum(widths) + gap * (columns + 1)
    total_h = sum(heights) + (label_h + gap) * len(rows) + gap
    canvas = Image.new("RGB", (total_w, total_h), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    y = gap
    for r, row in enumerate(rows):
        x = gap
        for c, (label, panel) in enumerate(row):
            if panel is not None:
                draw.text((x, y), label, fill=INK, font=font(label_size))
                canvas.paste(panel, (x, y + label_h))
            x += widths[c] + gap
        y += label_h + heights[r] + gap
    return canvas

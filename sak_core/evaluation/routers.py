"""Router analysis: mean expert weights per task and tap level (the SAK paper's Figure 4)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from sak_core.errors import SakError
from sak_core.evaluation.drawing import BACKGROUND, INK, MUTED, SERIES_COLOURS, font, text_size
from sak_core.model import SAKStudent

if TYPE_CHECKING:
    from sak_core.runtime.device import Precision

STEM_EXPERT = "stem"


@dataclass
class RouterSummary:
    """Mean router weights.

    tasks: task names; levels: the stem blocks tapped (one per level); experts: ``"stem"`` then
    the teachers, in router order; weights: ``tasks x levels x experts`` means over
    ``num_images`` images (each row sums to one).
    """

    tasks: list[str]
    levels: list[int]
    experts: list[str]
    weights: np.ndarray
    num_images: int
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``weights[task]["level{l}"][expert]``."""
        return {
            "num_images": self.num_images,
            "source": self.source,
            "experts": self.experts,
            "levels": self.levels,
            "weights": {
                task: {
                    f"level{l}": {e: float(self.weights[t, l, x]) for x, e in enumerate(self.experts)}
                    for l in range(len(self.levels))
                }
                for t, task in enumerate(self.tasks)
            },
        }


@torch.no_grad()
def router_summary(
    student: SAKStudent,
    batches: Iterable[dict[str, Any] | torch.Tensor],
    device: str | torch.device = "cpu",
    limit: int | None = None,
    source: str = "",
    precision: Precision | str = "fp32",
) -> RouterSummary:
    """Average the eval-mode expert weights of every (task, level) router over the images of
    ``batches`` (collated sample dicts or image tensors ``B x 3 x H x W``), the forward under
    ``precision`` autocast (a resolved :class:`~sak_core.runtime.device.Precision`, or a setting
    resolved here once; default fp32)."""
    from sak_core.runtime.device import as_precision, autocast

    precision = as_precision(precision, torch.device(device))
    if student.config.router != "mor" or not student.task_names:
        raise SakError(
            "this student has no learned routers (router: sum, or no task heads): there are no "
            "expert weights to analyse"
        )
    student = student.to(device).eval()
    total: np.ndarray | None = None
    seen = 0
    for batch in batches:
        images = batch["image"] if isinstance(batch, dict) else batch
        if limit is not None:
            images = images[: max(0, limit - seen)]
        if len(images) == 0:
            break
        with autocast(torch.device(device), precision):
            weights = student.routing_weights(images.to(device))  # task -> B, L, E
        stacked = torch.stack([weights[t] for t in student.task_names], dim=1).double()  # B, T, L, E
        part = stacked.sum(dim=0).cpu().numpy()
        total = part if total is None else total + part
        seen += len(images)
        if limit is not None and seen >= limit:
            break
    if total is None:
        raise SakError("no images to analyse: the dataset split is empty")
    return RouterSummary(
        tasks=list(student.task_names),
        levels=list(student.tap_indices),
        experts=[STEM_EXPERT, *student.teacher_names],
        weights=total / seen,
        num_images=seen,
        source=source,
    )


@dataclass
class Bar:
    """Where one (task, level) bar was drawn: its box and each expert's ``[x0, x1)`` span."""

    task: str
    level: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    segments: list[tuple[str, int, int]] = field(default_factory=list)


@dataclass
class RouterChart:
    """The rendered chart, the colour of each expert, and the geometry of every bar."""

    image: Image.Image
    colours: dict[str, tuple[int, int, int]]
    bars: list[Bar]


def _spans(weights: Sequence[float], x0: int, width: int) -> list[tuple[int, int]]:
    """Integer pixel spans for stacked segments: rounded cumulative sums, so they tile exactly."""
    edges = np.rint(np.concatenate([[0.0], np.cumsum(weights)]) / max(sum(weights), 1e-12) * width).astype(int)
    return [(x0 + int(a), x0 + int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _text_colour(colour: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * colour[0] + 0.587 * colour[1] + 0.114 * colour[2]
    return (255, 255, 255) if luminance < 150 else INK


def render_router_chart(
    summary: RouterSummary, title: str = "", bar_width: int = 420, bar_height: int = 26, columns: int = 2
) -> RouterChart:
    """Stacked horizontal bars: one panel per task, one bar per level, each bar split into the
    experts' mean weights (labelled in percent where they fit), with a legend."""
    colours = {e: SERIES_COLOURS[i % len(SERIES_COLOURS)] for i, e in enumerate(summary.experts)}
    n_tasks, n_levels = len(summary.tasks), len(summary.levels)
    columns = max(1, min(columns, n_tasks))
    rows = -(-n_tasks // columns)
    margin, gap, row_gap = 20, 36, 8
    level_labels = [f"level {l} (block {b})" for l, b in enumerate(summary.levels)]
    label_w = max(text_size(t, 13)[0] for t in level_labels) + 10
    header_h = text_size("Ag", 16)[1] + 12
    panel_w = label_w + bar_width
    panel_h = header_h + n_levels * (bar_height + row_gap)
    title = title or "Mean expert weight per task and level"
    subtitle = f"{summary.num_images} images" + (f" of {summary.source}" if summary.source else "")
    title_h = text_size("Ag", 18)[1] + text_size("Ag", 13)[1] + 22
    legend_h = 34
    width = margin * 2 + columns * panel_w + (columns - 1) * gap
    height = margin + title_h + rows * panel_h + (rows - 1) * gap + legend_h + margin
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    draw.text((margin, margin), title, fill=INK, font=font(18))
    draw.text((margin, margin + text_size("Ag", 18)[1] + 10), subtitle, fill=MUTED, font=font(13))

    bars: list[Bar] = []
    for t, task in enumerate(summary.tasks):
        px = margin + (t % columns) * (panel_w + gap)
        py = margin + title_h + (t // columns) * (panel_h + gap)
        draw.text((px, py), task, fill=INK, font=font(16))
        for l in range(n_levels):
            y0 = py + header_h + l * (bar_height + row_gap)
            _, th = text_size(level_labels[l], 13)
            draw.text((px, y0 + (bar_height - th) // 2 - 2), level_labels[l], fill=MUTED, font=font(13))
            x0 = px + label_w
            bar = Bar(task, l, (x0, y0, x0 + bar_width, y0 + bar_height))
            for expert, (a, b), w in zip(
                summary.experts, _spans(summary.weights[t, l], x0, bar_width), summary.weights[t, l]
            ):
                if b > a:
                    draw.rectangle((a, y0, b - 1, y0 + bar_height - 1), fill=colours[expert])
                bar.segments.append((expert, a, b))
                label = f"{100 * w:.0f}%"
                lw, lh = text_size(label, 12)
                if b - a >= lw + 6:
                    draw.text(
                        ((a + b - lw) // 2, y0 + (bar_height - lh) // 2 - 2),
                        label,
                        fill=_text_colour(colours[expert]),
                        font=font(12),
                    )
            bars.append(bar)

    ly = height - margin - legend_h + 10
    lx = margin
    for expert in summary.experts:
        draw.rectangle((lx, ly, lx + 14, ly + 14), fill=colours[expert])
        name = "stem (teacher-agnostic)" if expert == STEM_EXPERT else expert
        draw.text((lx + 20, ly), name, fill=INK, font=font(13))
        lx += 20 + text_size(name, 13)[0] + 24
    return RouterChart(image, colours, bars)

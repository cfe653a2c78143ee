"""TensorBoard pictures of a run: prediction grids of fixed validation images and the router chart.

At every validation the same few validation samples (the first ``count`` of the split) are
predicted and drawn as :func:`sak_core.evaluation.prediction.prediction_grid` images (the image, each task's
prediction, the ground truth below), and a student with learned routers adds the chart of its
mean expert weights over those images (:func:`sak_core.evaluation.routers.render_router_chart`).
Neither touches the random number generators, so a run with pictures trains exactly as one
without.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from sak_core.model import SAKStudent
from sak_core.model.mixture import task_of_head
from sak_core.plugin.tasks import Task
from sak_core.runtime.device import Precision, as_precision

PREDICTIONS_TAG = "predictions"  # predictions/<sample id>
ROUTERS_TAG = "routers"


class RunPictures:
    """Writes the pictures of one run to a ``SummaryWriter``; the samples are chosen on first use."""

    def __init__(self, writer: Any, count: int = 4) -> None:
        self.writer, self.count = writer, count
        self.samples: list[dict[str, Any]] | None = None

    def _pick(self, dataset: Any) -> list[dict[str, Any]]:
        if self.samples is None:
            self.samples = [dataset[i] for i in range(min(self.count, len(dataset)))]
        return self.samples

    @torch.no_grad()
    def write(self, step: int, student: SAKStudent, tasks: Mapping[str, Task], dataset: Any,
              device: torch.device, precision: Precision | str = "fp32") -> list[str]:
        """Draw the pictures of ``step``; returns their tags. ``dataset``: the validation split
        (test-time samples: normalised, padded, with ``meta.valid_box``). ``precision``: the
        run's resolved :class:`~sak_core.runtime.device.Precision` (a setting is resolved once here)."""
        from sak_core.evaluation.routers import render_router_chart, router_summary
        from sak_core.evaluation.prediction import PreparedImage, crop_box, denormalise, predict_prepared, prediction_grid

        precision = as_precision(precision, torch.device(device))

        if not tasks or dataset is None or len(dataset) == 0:
            return []
        samples = self._pick(dataset)
        spec = next(iter(tasks.values())).dataset
        tags = []
        was_training = student.training
        try:
            for sample in samples:
                box = tuple(int(v) for v in sample["meta"]["valid_box"])
                predictions = predict_prepared(student, tasks, PreparedImage(sample["image"][None], box), precision)
                targets = {n: crop_box(torch.as_tensor(sample[task_of_head(n)]), box)
                           for n in tasks if task_of_head(n) in sample}
                pixels = denormalise(crop_box(sample["image"], box), spec.mean, spec.std)
                name = str(sample["meta"]["id"])
                grid = prediction_grid(pixels, predictions, tasks, targets, title=name)
                tag = f"{PREDICTIONS_TAG}/{name}"
                self.writer.add_image(tag, np.asarray(grid.convert("RGB")), step, dataformats="HWC")
                tags.append(tag)
            if student.config.router == "mor":
                images = torch.stack([s["image"] for s in samples])  # B, 3, H, W
                summary = router_summary(student, [images], device, source=f"{len(samples)} validation images",
                                         precision=precision)
                chart = render_router_chart(summary, title=f"mean expert weights, step {step}")
                self.writer.add_image(ROUTERS_TAG, np.asarray(chart.image.convert("RGB")), step, dataformats="HWC")
                tags.append(ROUTERS_TAG)
        finally:
            student.train(was_training)
        self.writer.flush()
        return tags

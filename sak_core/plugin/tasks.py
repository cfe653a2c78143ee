"""Base class of tasks bound to a dataset, and the metric protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from sak_core.plugin.specs import DatasetSpec, TaskSpec


@runtime_checkable
class Metric(Protocol):
    """Dataset-level metric: accumulate with :meth:`update`, read with :meth:`compute`."""

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        """Add a batch: raw head outputs ``B x C x H x W`` (at target size) and targets."""

    def compute(self) -> dict[str, float]:
        """Scores over everything added so far; includes the task's ``metric_name``."""

    def reset(self) -> None:
        """Forget everything added."""


class Task:
    """A task bound to a dataset. Plugins subclass it and implement the methods below.

    Targets live in each sample under the task's name; their format is the task's to define
    and the dataset's to produce (see docs/concepts.md, "Targets").
    """

    def __init__(self, spec: TaskSpec, dataset: DatasetSpec) -> None:
        self.spec = spec
        self.dataset = dataset
        self.options: dict[str, Any] = dict(dataset.tasks.get(spec.name, {}))
        self.num_outputs = spec.num_outputs(dataset)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def loss_weight(self) -> float:
        return float(self.options.get("loss_weight", self.spec.loss_weight))

    def loss(self) -> nn.Module:
        """``module(outputs, targets) -> scalar`` loss; outputs ``B x C x H x W`` raw."""
        raise NotImplementedError

    def metric(self, full: bool = False, **options: Any) -> Metric:
        """A fresh dataset-level metric.

        ``full=False`` (training's validation, ``sak eval --fast``): the task's fast metric.
        ``full=True`` (``sak eval``): its protocol metric, the benchmark's reference form (the
        boundaries' odsF), or the fast metric for a task that has only one. ``options`` are
        settings of the protocol metric (``sak eval --metric-option TASK.KEY=VALUE``), given only
        with ``full=True``; a metric that takes none can leave ``**options`` out of its signature
        (or refuse unknown ones with ``TypeError``/``ValueError``), and sak reports the options
        as refused, naming the task. A metric may report the settings it scores with in an
        ``options`` mapping attribute; they are recorded in metrics.json.
        """
        raise NotImplementedError

    def postprocess(self, outputs: torch.Tensor) -> torch.Tensor:
        """Raw outputs ``B x C x H x W`` -> predictions (labels, probabilities, unit normals...)."""
        raise NotImplementedError

    def save_prediction(self, prediction: torch.Tensor, path: Path) -> Path:
        """Write one image's prediction in the reference format; ``path`` has no suffix."""
        raise NotImplementedError

    def visualise(self, prediction: torch.Tensor) -> np.ndarray:
        """One image's prediction or target -> ``H x W x 3`` uint8 colour rendering."""
        raise NotImplementedError

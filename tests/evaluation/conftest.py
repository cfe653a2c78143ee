"""Fixtures for evaluation tests: a small dataset plugin of odd-sized padded images whose
labels the installed task plugins (semseg, depth, normals) score, and a saved tiny student."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml

from sak_core import DatasetSpec, StudentConfig, create_student, hookimpl, save_student
from sak_core.config import RunConfig
from sak_core.datasets.transforms import DenseTransform, to_sample
from sak_core.plugin.registry import temporary_plugin

TASKS = {"semseg": 3, "depth": 1, "normals": 3}
INPUT_SIZE = (64, 64)
# original (h, w) of the samples: none a multiple of 16, one wider than tall, one full size
SIZES = [(40, 52), (64, 64), (37, 61), (50, 30), (33, 47)]

for module in ("sak_task_semseg", "sak_task_depth", "sak_task_normals"):
    pytest.importorskip(module)


def raw_sample(index: int) -> dict[str, np.ndarray]:
    """A deterministic un-padded sample: a smooth image and labels derived from it."""
    h, w = SIZES[index % len(SIZES)]
    rng = np.random.default_rng(index)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 6.28, size=3).astype(np.float32)
    image = np.stack([127 + 120 * np.sin(xx / 7 + yy / 11 + p) for p in phase], axis=-1).astype(np.float32)
    semseg = (image[..., 0] // 86).astype(np.int64)  # 0, 1, 2
    semseg[: h // 5, : w // 5] = 255
    depth = (1.0 + image[..., 1] / 64).astype(np.float32)
    depth[-3:, :] = 0  # becomes ignore
    normals = np.stack([np.sin(xx / 9), np.cos(yy / 13), np.ones_like(xx)], axis=-1)
    normals = (normals / np.linalg.norm(normals, axis=-1, keepdims=True)).astype(np.float32)
    return {"image": image, "semseg": semseg, "depth": depth, "normals": normals}


class ProbeDataset(torch.utils.data.Dataset):
    """Test-time samples (normalise + centred pad), through the project's own transform."""

    def __init__(self, input_size, tasks, n: int = len(SIZES)) -> None:
        self.transform = DenseTransform(tuple(input_size), train=False)
        self.tasks = list(tasks) if tasks is not None else list(TASKS)
        self.ids = [f"probe{i}" for i in range(n)]

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict:
        raw = raw_sample(i)
        raw = {k: v for k, v in raw.items() if k == "image" or k in self.tasks}
        sample, box = self.transform(raw, np.random.default_rng(0))
        return to_sample(sample, self.ids[i], box)


PROBE = DatasetSpec(
    name="evalprobe",
    factory=lambda root=None, split="val", train=False, input_size=INPUT_SIZE, tasks=None, **o: ProbeDataset(
        input_size, tasks
    ),
    tasks={"semseg": {"num_outputs": 3}, "depth": {}, "normals": {}},
    input_size=INPUT_SIZE,
    description="odd-sized padded samples for evaluation tests",
)


class ProbePlugin:
    @hookimpl
    def sak_register_datasets(self, register):
        register(PROBE)


@pytest.fixture
def probe_plugin():
    """The 'evalprobe' dataset registered in memory (tasks come from the installed plugins)."""
    with temporary_plugin(ProbePlugin(), distribution="sak-eval-probe"):
        yield PROBE


@pytest.fixture
def probe(probe_plugin) -> SimpleNamespace:
    """This module's helpers (test modules cannot import conftest under --import-mode=importlib)."""
    return SimpleNamespace(
        spec=probe_plugin, TASKS=TASKS, INPUT_SIZE=INPUT_SIZE, SIZES=SIZES, ProbeDataset=ProbeDataset,
        raw_sample=raw_sample, tiny_student=tiny_student,
    )


def tiny_student(tasks=TASKS, teachers=("dinov2", "sam"), seed: int = 0):
    torch.manual_seed(seed)
    config = StudentConfig(
        stem="vit_small",
        stem_overrides={"embed_dim": 32, "depth": 4, "num_heads": 2},
        input_size=INPUT_SIZE,
        teachers={t: 0 for t in teachers},
        tasks=dict(tasks),
    )
    student = create_student(config)
    # give the routers and heads' batch norms something other than their initial values
    with torch.no_grad():
        for name, p in student.named_parameters():
            if "routers" in name or "heads" in name:
                p.add_(torch.randn_like(p) * 0.2)
    return student.eval()


@pytest.fixture
def tiny_run(tmp_path: Path, probe_plugin) -> Path:
    """A run directory: model.safetensors, config.yaml naming the evalprobe dataset, plugins.json."""
    run = tmp_path / "run"
    run.mkdir()
    student = tiny_student()
    save_student(student, run / "model.safetensors")
    config = {"stage": 2, "tasks": list(TASKS), "data": {"dataset": "evalprobe", "workers": 0}}
    (run / "config.yaml").write_text(yaml.safe_dump(RunConfig.model_validate(config).model_dump(mode="json")))
    plugins = [
        {"kind": "task", "name": name, "distribution": f"sak-task-{name}", "version": "0.1.0"} for name in TASKS
    ]
    (run / "plugins.json").write_text(json.dumps(plugins))
    return run

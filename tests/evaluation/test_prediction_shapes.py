"""Every task's written prediction and rendering keep the image's H x W, whatever its size: a
1-pixel-high or -wide image (or 1 x 1) lost an axis to a bare ``squeeze()`` in the writers."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sak_core.plugin.specs import DatasetSpec

# task plugin module -> the dataset options it needs to bind
PLUGINS = {
    "sak_task_semseg": {"num_outputs": 5},
    "sak_task_parts": {"num_outputs": 4},
    "sak_task_depth": {},
    "sak_task_normals": {},
    "sak_task_saliency": {},
    "sak_task_boundaries": {},
}


def _bind(module: str):
    spec = importlib.import_module(module).SPEC
    dataset = DatasetSpec(name="shapes", factory=lambda **k: None, tasks={spec.name: PLUGINS[module]})
    return spec.create(dataset)


def _read_back(path) -> np.ndarray:
    return np.load(path) if path.suffix == ".npy" else np.asarray(Image.open(path))


@pytest.mark.parametrize("module", list(PLUGINS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(h=st.integers(1, 40), w=st.integers(1, 40), seed=st.integers(0, 2**16))
def test_written_prediction_keeps_h_by_w(tmp_path, module, h, w, seed):
    task = _bind(module)
    generator = torch.Generator().manual_seed(seed)
    outputs = torch.randn(1, task.num_outputs, h, w, generator=generator)  # B x C x H x W raw head outputs
    prediction = task.postprocess(outputs)[0]  # one image, as sak predict hands it to the writer
    path = task.save_prediction(prediction, tmp_path / f"{h}x{w}")
    written = _read_back(path)
    assert written.shape[:2] == (h, w), f"{task.name}: {h}x{w} written as {written.shape}"
    rendered = np.asarray(task.visualise(prediction))
    assert rendered.shape == (h, w, 3), f"{task.name}: {h}x{w} rendered as {rendered.shape}"


@pytest.mark.parametrize("size", [(1, 70), (70, 1), (1, 1)])
def test_depth_of_a_one_pixel_side_is_written_h_by_w(tmp_path, size):
    task = _bind("sak_task_depth")
    prediction = task.postprocess(torch.rand(1, 1, *size))[0]
    assert np.load(task.save_prediction(prediction, tmp_path / "d")).shape == size

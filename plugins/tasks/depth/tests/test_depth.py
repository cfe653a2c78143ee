"""Depth task: L1 loss, global-sqrt RMSE over 0 < gt < 80, predictions; plugin removal."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sak_core.plugin import VOID_COLOUR, DatasetSpec
from sak_core.testing import check_task, loaded_names, registered
from sak_task_depth import SPEC


def bind(**options):
    return SPEC.create(DatasetSpec(name="toy", factory=lambda **k: None, tasks={"depth": options}))


def t(rows) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)[None, None]


def test_registered_spec():
    entry = registered("task", "depth")
    assert entry.spec is SPEC and entry.distribution == "sak-task-depth"
    assert (SPEC.default_outputs, SPEC.loss_weight, SPEC.metric_name, SPEC.higher_is_better) == (
        1, 1.0, "RMSE", False)


def test_rmse_is_one_global_sqrt_with_clamping_and_range():
    metric = bind().metric()
    # image 1: errors 0.5 and 0.5 (prediction -1 clamped to 0); 255 and 0 do not count
    metric.update(t([[1.0, 2.0], [-1.0, 5.0]]), t([[1.5, 255.0], [0.5, 0.0]]))
    # image 2: error 2; gt 90 is beyond 80 and does not count
    metric.update(t([[4.0, 1.0]]), t([[2.0, 90.0]]))
    rmse = metric.compute()["RMSE"]
    assert rmse == pytest.approx(math.sqrt((0.25 + 0.25 + 4.0) / 3))
    assert rmse != pytest.approx((0.5 + 2.0) / 2)  # not the mean of per-image RMSEs


def test_max_depth_comes_from_the_dataset():
    metric = bind(max_depth=100.0).metric()
    metric.update(t([[0.0]]), t([[90.0]]))
    assert metric.compute()["RMSE"] == pytest.approx(90.0)


def test_three_dimensional_targets_are_accepted():
    metric = bind().metric()
    metric.update(t([[1.0, 3.0]]), torch.tensor([[[2.0, 3.0]]]))
    assert metric.compute()["RMSE"] == pytest.approx(math.sqrt(0.5))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), b=st.integers(1, 3), h=st.integers(1, 5),
       w=st.integers(1, 5), data=st.data())
def test_properties(seed, b, h, w, data):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, 1, h, w, generator=g) * 10 + 0.1
    target[torch.rand(b, 1, h, w, generator=g) < 0.2] = 255
    outputs = torch.randn(b, 1, h, w, generator=g) * 5

    def score(x, y):
        m = bind().metric()
        m.update(x, y)
        return m.compute()["RMSE"]

    target[0, 0, 0, 0] = 1.0
    assert score(target.clone(), target) == pytest.approx(0.0, abs=1e-6)
    base = score(outputs, target)
    order = torch.tensor(data.draw(st.permutations(range(b))))
    assert score(outputs[order], target[order]) == pytest.approx(base)
    assert score(outputs.flip(-1), target.flip(-1)) == pytest.approx(base)


def test_loss_is_l1_over_non_ignored_pixels():
    outputs = t([[1.0, 2.0, 7.0]])
    target = t([[1.5, 0.0, 255.0]])
    assert float(bind().loss()(outputs, target)) == pytest.approx((0.5 + 2.0) / 2)


def test_loss_gradients():
    outputs = torch.randn(2, 1, 3, 3, requires_grad=True)
    target = torch.rand(2, 1, 3, 3) + 1
    target[0, 0, 0, 0] = 255
    bind().loss()(outputs, target).backward()
    assert outputs.grad[0, 0, 0, 0] == 0 and outputs.grad.abs().sum() > 0


def test_postprocess_save_and_visualise(tmp_path):
    task = bind()
    prediction = task.postprocess(t([[-1.0, 2.5], [0.1234567, 3.0]]))
    assert float(prediction.min()) == 0.0
    path = task.save_prediction(prediction[0], tmp_path / "d")
    saved = np.load(path)
    assert path.suffix == ".npy" and saved.dtype == np.float32 and saved.shape == (2, 2)
    np.testing.assert_array_equal(saved, prediction[0, 0].numpy())
    rgb = task.visualise(t([[1.0, 255.0], [2.0, 3.0]])[0])
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 1]) == VOID_COLOUR and tuple(rgb[0, 0]) != tuple(rgb[1, 1])


def test_removing_the_plugin_removes_only_its_task(monkeypatch):
    others = ["sak-task-semseg", "sak-task-parts", "sak-task-saliency", "sak-task-normals",
              "sak-task-boundaries"]
    monkeypatch.setenv("SAK_LOAD_PLUGINS", ",".join(others))
    names = loaded_names("task")
    assert "depth" not in names
    assert {"semseg", "parts", "saliency", "normals", "boundaries"} <= set(names)


def test_conformance(tmp_path):
    check_task("depth", "synthetic", tmp_path, count=4)

"""Surface normals task: L1 on unit predictions, mean angular error, predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sak_core.plugin import VOID_COLOUR, DatasetSpec
from sak_core.testing import check_task, registered
from sak_task_normals import SPEC

IGNORE = [255.0, 255.0, 255.0]


def bind(**options):
    return SPEC.create(DatasetSpec(name="toy", factory=lambda **k: None, tasks={"normals": options}))


def image(*vectors) -> torch.Tensor:
    """Pixels in a row -> ``1 x 3 x 1 x N`` float64."""
    return torch.tensor(vectors, dtype=torch.float64).T[None, :, None, :]


def test_registered_spec():
    entry = registered("task", "normals")
    assert entry.spec is SPEC and entry.distribution == "sak-task-normals"
    assert (SPEC.default_outputs, SPEC.loss_weight, SPEC.metric_name, SPEC.higher_is_better) == (
        3, 10.0, "mErr", False)


def test_mean_angular_error_against_hand_computation():
    metric = bind().metric()
    # image 1: 90, 0 and 0 degrees (predictions need not be unit length)
    metric.update(image([2, 0, 0], [0, 0, 3], [0, 0.5, 0]), image([0, 0, 1], [0, 0, 1], [0, 1, 0]))
    # image 2: 45 degrees, one ignored pixel, one 180-degree pixel left out by ignore too
    metric.update(image([1, 0, 1], [0, 0, -1]), image([0, 0, 1], IGNORE))
    scores = metric.compute()
    assert scores["mErr"] == pytest.approx((90 + 0 + 0 + 45) / 4)  # not (30 + 45) / 2
    assert scores["within_11.25"] == pytest.approx(50.0)
    assert scores["within_30"] == pytest.approx(50.0)


def test_opposite_vectors_are_180_degrees_and_gt_is_normalised():
    metric = bind().metric()
    metric.update(image([0, 0, -1]), image([0, 0, 0.5]))
    assert metric.compute()["mErr"] == pytest.approx(180.0)


def test_pixel_with_any_channel_at_the_ignore_value_is_skipped():
    # the protocol's rule: valid only when none of the three channels is 255
    metric = bind().metric()
    metric.update(image([0, 0, 1], [1, 0, 0]), image([0, 0, 255.0], [0, 1, 0]))
    assert metric.compute()["mErr"] == pytest.approx(90.0)
    assert metric.count == 1


def _random(seed, b, h, w):
    g = torch.Generator().manual_seed(seed)
    target = torch.nn.functional.normalize(torch.randn(b, 3, h, w, generator=g), dim=1)
    mask = (torch.rand(b, 1, h, w, generator=g) < 0.2).expand(-1, 3, -1, -1)
    target = torch.where(mask, 255.0, target)
    return torch.randn(b, 3, h, w, generator=g), target


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), b=st.integers(1, 3), h=st.integers(1, 5),
       w=st.integers(1, 5), scale=st.floats(0.1, 10.0), data=st.data())
def test_properties(seed, b, h, w, scale, data):
    outputs, target = _random(seed, b, h, w)
    target[0, :, 0, 0] = torch.tensor([0.0, 0.6, 0.8])  # at least one valid pixel

    def score(x, y):
        m = bind().metric()
        m.update(x, y)
        return m.compute()["mErr"]

    perfect = torch.where(target == 255, outputs, target * scale)
    assert score(perfect, target) == pytest.approx(0.0, abs=1e-4)
    base = score(outputs, target)
    order = torch.tensor(data.draw(st.permutations(range(b))))
    assert score(outputs[order], target[order]) == pytest.approx(base)
    assert score(outputs.flip(-1), target.flip(-1)) == pytest.approx(base)
    assert score(outputs.flip(-2), target.flip(-2)) == pytest.approx(base)


def test_loss_is_l1_on_the_normalised_prediction_per_valid_pixel():
    outputs = image([2, 0, 0], [0, 0, 3], [5, 5, 5]).float()
    target = image([0, 0, 1], [0, 0, 1], IGNORE).float()
    # |(1,0,0) - (0,0,1)| = 2, |(0,0,1) - (0,0,1)| = 0, third pixel ignored; 2 valid pixels
    assert float(bind().loss()(outputs, target)) == pytest.approx(1.0)


def test_loss_gradients_flow_and_skip_ignored_pixels():
    outputs = torch.randn(2, 3, 2, 2, requires_grad=True)
    target = torch.nn.functional.normalize(torch.randn(2, 3, 2, 2), dim=1)
    target[1, :, 0, 0] = 255
    bind().loss()(outputs, target).backward()
    assert torch.isfinite(outputs.grad).all()
    assert outputs.grad[1, :, 0, 0].abs().sum() == 0 and outputs.grad[0].abs().sum() > 0


def test_postprocess_save_and_visualise(tmp_path):
    task = bind()
    unit = task.postprocess(image([0, 0, 2], [-3, 0, 0]).float())
    torch.testing.assert_close(unit, image([0, 0, 1], [-1, 0, 0]).float())
    path = task.save_prediction(unit[0], tmp_path / "n")
    saved = np.array(Image.open(path))
    assert path.suffix == ".png" and saved.shape == (1, 2, 3)
    np.testing.assert_array_equal(saved[0], [[127, 127, 255], [0, 127, 127]])
    rgb = task.visualise(image([0, 0, 1], IGNORE)[0])
    assert rgb.shape == (1, 2, 3) and rgb.dtype == np.uint8 and tuple(rgb[0, 1]) == VOID_COLOUR


def test_conformance(tmp_path):
    check_task("normals", "synthetic", tmp_path, count=4)

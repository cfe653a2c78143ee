"""Boundary task: balanced BCE, the approximate F for validation, the full-odsF hook, outputs."""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sak_core.plugin import VOID_COLOUR, DatasetSpec, SakError
from sak_core.testing import check_task, registered
from sak_task_boundaries import SPEC, ApproximateBoundaryF, BalancedBCELoss
from sak_task_boundaries.task import tolerance_pixels


def bind(**options):
    return SPEC.create(DatasetSpec(name="toy", factory=lambda **k: None, tasks={"boundaries": options}))


def logits(mask: torch.Tensor, high: float = 6.0) -> torch.Tensor:
    """Confident logits from a boolean ``B x 1 x H x W`` mask."""
    return torch.where(mask, high, -high).float()


def test_registered_spec():
    entry = registered("task", "boundaries")
    assert entry.spec is SPEC and entry.distribution == "sak-task-boundaries"
    assert (SPEC.default_outputs, SPEC.loss_weight, SPEC.metric_name, SPEC.higher_is_better) == (
        1, 50.0, "odsF", True)


def test_loss_against_hand_computation():
    outputs = torch.tensor([0.0, 2.0, -1.0, 0.7]).reshape(1, 1, 1, 4)
    target = torch.tensor([1.0, 0.0, 255.0, 1.0]).reshape(1, 1, 1, 4)
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731  -log(sigmoid(-x)) = softplus(x)
    expected = (0.95 * softplus(-0.0) + 0.05 * softplus(2.0) + 0.95 * softplus(-0.7)) / 3
    assert float(bind().loss()(outputs, target)) == pytest.approx(expected, rel=1e-6)


def test_loss_weights_are_95_5_and_configurable():
    outputs = torch.zeros(1, 1, 1, 2)  # sigmoid 0.5 -> each term is weight * ln 2
    pos, neg = torch.ones(1, 1, 1, 2), torch.zeros(1, 1, 1, 2)
    loss = bind().loss()
    assert float(loss(outputs, pos)) == pytest.approx(0.95 * math.log(2))
    assert float(loss(outputs, neg)) == pytest.approx(0.05 * math.log(2))
    assert float(bind(pos_weight=0.8).loss()(outputs, pos)) == pytest.approx(0.8 * math.log(2))
    with pytest.raises(ValueError):
        BalancedBCELoss(1.0)


def test_loss_gradients_and_all_ignored():
    outputs = torch.randn(2, 1, 4, 4, requires_grad=True)
    target = (torch.rand(2, 1, 4, 4) > 0.8).float()
    target[1, 0, 0, 0] = 255
    bind().loss()(outputs, target).backward()
    assert torch.isfinite(outputs.grad).all() and outputs.grad[1, 0, 0, 0] == 0
    assert outputs.grad.abs().sum() > 0
    assert float(bind().loss()(outputs.detach(), torch.full_like(target, 255))) == 0.0


def vertical_edge(h=5, w=5, col=2) -> torch.Tensor:
    target = torch.zeros(1, 1, h, w)
    target[..., col] = 1
    return target


def test_approximate_f_matches_within_the_tolerance():
    target = vertical_edge()
    shifted = torch.zeros_like(target, dtype=torch.bool)
    shifted[..., 3] = True  # one pixel off the true edge
    near = ApproximateBoundaryF(tolerance_px=1)
    near.update(logits(shifted), target)
    assert near.compute()["odsF"] == pytest.approx(100.0)
    exact = ApproximateBoundaryF(tolerance_px=0)
    exact.update(logits(shifted), target)
    assert exact.compute()["odsF"] == pytest.approx(0.0)


def test_approximate_f_against_hand_computation_and_ignore():
    target = vertical_edge()
    predicted = torch.zeros_like(target, dtype=torch.bool)
    predicted[..., 3] = True
    predicted[0, 0, 0, 0] = True  # a false positive far from the edge
    metric = ApproximateBoundaryF(tolerance_px=1)
    metric.update(logits(predicted), target)
    scores = metric.compute()
    precision, recall = 5 / 6, 1.0
    assert scores["odsF"] == pytest.approx(100 * 2 * precision * recall / (precision + recall))
    assert scores["precision"] == pytest.approx(100 * precision) and scores["approximate"] == 1.0
    target[0, 0, 0, 0] = 255  # an ignored pixel: its prediction no longer counts
    metric.reset()
    metric.update(logits(predicted), target)
    assert metric.compute()["odsF"] == pytest.approx(100.0)


def test_approximate_f_picks_the_best_threshold_over_the_split():
    target = vertical_edge()
    prob = torch.full_like(target, 0.3)
    prob[..., 2] = 0.7
    metric = ApproximateBoundaryF(tolerance_px=0)
    metric.update(torch.logit(prob.double()), target)
    scores = metric.compute()
    assert scores["odsF"] == pytest.approx(100.0) and 0.3 < scores["threshold"] <= 0.7


def test_tolerance_follows_max_dist_and_image_diagonal():
    assert tolerance_pixels(512, 512, 0.0075) == round(0.0075 * math.hypot(512, 512)) == 5
    assert tolerance_pixels(4, 4, 0.0075) == 1
    assert bind(max_dist=0.011).metric().max_dist == 0.011
    assert bind(tolerance_px=2).metric().tolerance_px == 2


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), b=st.integers(1, 3), h=st.integers(2, 7),
       w=st.integers(2, 7), data=st.data())
def test_properties(seed, b, h, w, data):
    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(b, 1, h, w, generator=g) < 0.3).float()
    target[0, 0, 0, 0] = 1.0

    def score(x, y):
        m = bind().metric()
        m.update(x, y)
        return m.compute()["odsF"]

    assert score(logits(target > 0.5), target) == pytest.approx(100.0)
    target[torch.rand(b, 1, h, w, generator=g) < 0.2] = 255
    outputs = torch.randn(b, 1, h, w, generator=g) * 3
    base = score(outputs, target)
    order = torch.tensor(data.draw(st.permutations(range(b))))
    assert score(outputs[order], target[order]) == pytest.approx(base)
    assert score(outputs.flip(-1), target.flip(-1)) == pytest.approx(base)
    assert score(outputs.flip(-2), target.flip(-2)) == pytest.approx(base)


def test_full_metric_without_the_odsf_module_raises_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sak_task_boundaries.odsf", None)  # as if absent
    with pytest.raises(SakError, match="approximate F"):
        bind().metric(full=True)


def test_full_metric_hands_8_bit_cropped_maps_to_the_odsf_module(monkeypatch):
    seen = {}

    class FakeAccumulator:
        def __init__(self, max_dist, **options):
            seen.update(max_dist=max_dist, options=options, images=[])

        def update(self, prediction, ground_truth):
            seen["images"].append((prediction, ground_truth))

        def compute(self):
            return {"odsF": 0.715, "ods_threshold": 0.4, "num_images": 1}

        def reset(self):
            seen["images"].clear()

    fake = types.ModuleType("sak_task_boundaries.odsf")
    fake.OdsFAccumulator = FakeAccumulator
    monkeypatch.setitem(sys.modules, "sak_task_boundaries.odsf", fake)
    metric = bind(max_dist=0.011).metric(full=True, workers=0)
    assert seen["max_dist"] == 0.011 and seen["options"] == {"workers": 0}
    target = torch.full((2, 1, 4, 5), 255.0)
    target[0, 0, 1:3, 0:4] = torch.tensor([[0.0, 1, 0, 0], [0, 1, 255, 0]])
    outputs = torch.logit(torch.full((2, 1, 4, 5), 0.5))
    metric.update(outputs, target)  # image 2 is all padding: nothing to score
    scores = metric.compute()
    assert scores == {"odsF": pytest.approx(71.5), "ods_threshold": 0.4, "num_images": 1.0,
                      "approximate": 0.0}
    assert len(seen["images"]) == 1
    prediction, gt = seen["images"][0]
    assert prediction.dtype == np.uint8 and prediction.shape == (2, 4) and (prediction == 127).all()
    np.testing.assert_array_equal(gt, [[0, 1, 0, 0], [0, 1, 0, 0]])


def test_full_metric_runs_the_real_odsf_module():
    pytest.importorskip("sak_task_boundaries.odsf")
    try:
        metric = bind().metric(full=True, workers=0)
    except SakError as exc:  # odsf present but its compiled dependency is not installed
        pytest.skip(str(exc))
    target = torch.zeros(1, 1, 32, 32)
    target[..., 10:22, 16] = 1
    metric.update(logits(target > 0.5), target)
    scores = metric.compute()
    # the score itself is the odsF module's to test (tests/test_odsf*.py); here: wiring and units
    assert scores["num_images"] == 1 and scores["approximate"] == 0.0
    assert 0.0 <= scores["odsF"] <= 100.0


def test_full_metric_says_which_matching_scores():
    pytest.importorskip("sak_task_boundaries.odsf")
    default = bind().metric(full=True, workers=0)
    assert default.matching == "bsds" and default.options == {"matching": "bsds"}  # the published protocol
    exact = bind().metric(full=True, matching="exact", workers=0)
    assert exact.matching == "exact" and exact.accumulator.options["matching"] == "exact"
    assert exact.options == {"matching": "exact"}  # what sak eval records in metrics.json
    with pytest.raises(ValueError, match="'bsds'"):
        bind().metric(full=True, matching="nearest", workers=0)


def test_postprocess_save_and_visualise(tmp_path):
    task = bind()
    prob = task.postprocess(torch.logit(torch.tensor([[[[0.5, 1.0], [0.0, 0.25]]]])))
    assert prob.shape == (1, 1, 2, 2)
    path = task.save_prediction(prob[0], tmp_path / "e" / "img")
    assert path.suffix == ".png"
    np.testing.assert_array_equal(np.array(Image.open(path)), [[127, 255], [0, 63]])
    rgb = task.visualise(torch.tensor([[[1.0, 0.0], [255.0, 1.0]]]))
    assert rgb.shape == (2, 2, 3) and tuple(rgb[1, 0]) == VOID_COLOUR
    assert tuple(rgb[0, 1]) == (0, 0, 0) and tuple(rgb[0, 0]) == (255, 255, 255)


def test_conformance(tmp_path):
    check_task("boundaries", "synthetic", tmp_path, count=4)

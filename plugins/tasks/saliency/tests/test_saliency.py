"""Saliency task: class-balanced loss, maxF over the 19-threshold grid, predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sak_core.plugin import VOID_COLOUR, DatasetSpec
from sak_core.testing import check_task, registered
from sak_task_saliency import SPEC
from sak_task_saliency.task import MaxFMeasure


def bind(**options):
    return SPEC.create(DatasetSpec(name="toy", factory=lambda **k: None, tasks={"saliency": options}))


def logits_for(prob) -> torch.Tensor:
    """``B x 2 x H x W`` float64 logits whose class-1 softmax probability is ``prob``."""
    p = torch.as_tensor(prob, dtype=torch.float64)
    return torch.stack([torch.zeros_like(p), torch.log(p / (1 - p))], dim=1)


def hand_max_f(probs, targets, beta_sq=0.3):
    """Independent reference: explicit loop over thresholds k/20, counts over all pixels."""
    best = 0.0
    for k in range(1, 20):
        t = k / 20
        tp = pp = ap = 0
        for p, y in zip(probs, targets):
            if y == 255:
                continue
            tp += p >= t and y == 1
            pp += p >= t
            ap += y == 1
        prec = tp / pp if pp else 0.0
        rec = tp / ap if ap else 0.0
        f = (1 + beta_sq) * prec * rec / (beta_sq * prec + rec) if prec + rec else 0.0
        best = max(best, f)
    return 100 * best


def test_registered_spec():
    entry = registered("task", "saliency")
    assert entry.spec is SPEC and entry.distribution == "sak-task-saliency"
    assert (SPEC.default_outputs, SPEC.loss_weight, SPEC.metric_name, SPEC.higher_is_better) == (
        2, 5.0, "maxF", True)
    assert bind().num_outputs == 2


def test_grid_is_19_thresholds():
    np.testing.assert_allclose(MaxFMeasure().thresholds, np.arange(1, 20) * 0.05)


def test_maxf_against_hand_computation():
    probs = [0.87, 0.33, 0.52, 0.12, 0.99]
    target = [1, 1, 0, 0, 255]
    metric = bind().metric()
    metric.update(logits_for([[probs]]), torch.tensor([[target]]))
    scores = metric.compute()
    # best at t in (0.52, 0.87]: P = 1, R = 1/2 -> 1.3 * 0.5 / (0.3 + 0.5) = 0.8125
    assert scores["maxF"] == pytest.approx(81.25)
    assert scores["maxF"] == pytest.approx(hand_max_f(probs, target))
    assert scores["threshold"] == pytest.approx(0.55)


def test_probability_equal_to_a_threshold_counts_as_salient():
    metric = bind().metric()
    metric.update(logits_for([[[0.5, 0.47]]]), torch.tensor([[[1, 0]]]))
    scores = metric.compute()
    assert scores["maxF"] == pytest.approx(100.0) and scores["threshold"] == pytest.approx(0.5)


def test_counts_accumulate_over_the_split_not_per_image():
    a, b = [0.9, 0.2], [0.8, 0.7]
    ya, yb = [1, 0], [0, 1]
    metric = bind().metric()
    metric.update(logits_for([[a]]), torch.tensor([[ya]]))
    metric.update(logits_for([[b]]), torch.tensor([[yb]]))
    dataset = hand_max_f(a + b, ya + yb)
    assert dataset == pytest.approx(81.25)
    assert metric.compute()["maxF"] == pytest.approx(dataset)
    assert dataset != pytest.approx((hand_max_f(a, ya) + hand_max_f(b, yb)) / 2)


def test_scores_use_float_probabilities_not_8_bit():
    # in 8 bits 0.5501 becomes 140/255 = 0.549 < 0.55, and the best threshold would be 0.5
    metric = bind().metric()
    metric.update(logits_for([[[0.5501, 0.5499]]]), torch.tensor([[[1, 0]]]))
    assert metric.compute()["threshold"] == pytest.approx(0.55)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), b=st.integers(1, 3), h=st.integers(1, 5),
       w=st.integers(1, 5), data=st.data())
def test_properties(seed, b, h, w, data):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 2, (b, h, w), generator=g)
    target[0, 0, 0] = 1
    perfect = bind().metric()
    perfect.update(torch.stack([-8.0 * target, 8.0 * target], 1).double(), target)
    assert perfect.compute()["maxF"] == pytest.approx(100.0)

    target[torch.rand(b, h, w, generator=g) < 0.2] = 255
    logits = torch.randn(b, 2, h, w, generator=g)

    def score(x, y):
        m = bind().metric()
        m.update(x, y)
        return m.compute()["maxF"]

    base = score(logits, target)
    order = torch.tensor(data.draw(st.permutations(range(b))))
    assert score(logits[order], target[order]) == pytest.approx(base)
    assert score(logits.flip(-1), target.flip(-1)) == pytest.approx(base)
    assert score(logits.flip(-2), target.flip(-2)) == pytest.approx(base)


def test_balanced_loss_against_hand_computation():
    logits = torch.tensor([[[[0.3, -0.2, 1.0, 0.0, 2.0]], [[1.0, 0.5, -1.0, 0.2, 0.0]]]])
    target = torch.tensor([[[1, 0, 0, 0, 255]]])
    loss = bind().loss()(logits, target)
    x = logits[0, :, 0].numpy().astype(np.float64)  # 2 x 5
    log_prob = x - np.log(np.exp(x).sum(0))
    w_bg, w_fg = 1 / 4, 3 / 4  # one positive among four valid pixels
    terms = [w_fg * -log_prob[1, 0]] + [w_bg * -log_prob[0, i] for i in (1, 2, 3)]
    assert float(loss) == pytest.approx(sum(terms) / 4, rel=1e-6)


def test_loss_gradients_and_bad_labels():
    logits = torch.randn(2, 2, 3, 3, requires_grad=True)
    target = torch.randint(0, 2, (2, 3, 3))
    target[0, 0, 0] = 255
    bind().loss()(logits, target).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad[0, :, 0, 0].abs().sum() == 0
    assert logits.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="0, 1"):
        bind().loss()(logits, torch.full((2, 3, 3), 2))


def test_postprocess_save_and_visualise(tmp_path):
    task = bind()
    prob = task.postprocess(logits_for([[[0.5, 0.999], [0.0001, 0.25]]]).float())
    assert prob.shape == (1, 2, 2)
    path = task.save_prediction(prob[0], tmp_path / "img")
    saved = np.array(Image.open(path))
    assert path.suffix == ".png" and saved.dtype == np.uint8
    np.testing.assert_array_equal(saved, [[127, 254], [0, 63]])  # truncated, as the reference
    rgb = task.visualise(torch.tensor([[1, 0], [255, 1]]))
    assert rgb.shape == (2, 2, 3) and tuple(rgb[1, 0]) == VOID_COLOUR
    assert tuple(rgb[0, 0]) == (255, 255, 255) and tuple(rgb[0, 1]) == (0, 0, 0)


def test_conformance(tmp_path):
    check_task("saliency", "synthetic", tmp_path, count=4)

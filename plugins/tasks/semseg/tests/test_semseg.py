"""Semantic segmentation task: spec, loss, dataset-level mIoU, predictions and rendering."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sak_core.plugin import VOID_COLOUR, DatasetSpec, SpecError, TargetError, create_task, label_palette
from sak_core.testing import check_task, registered
from sak_task_semseg import SPEC
from sak_task_semseg.task import SemanticSegmentationTask


def bind(num_outputs: int | None = 3, **options):
    if num_outputs is not None:
        options["num_outputs"] = num_outputs
    return SPEC.create(DatasetSpec(name="toy", factory=lambda **k: None, tasks={"semseg": options}))


def one_hot_logits(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels, num_classes).permute(0, 3, 1, 2).float() * 5.0


def test_registered_from_its_distribution():
    entry = registered("task", "semseg")
    assert entry.spec is SPEC and entry.distribution == "sak-task-semseg"
    assert (SPEC.loss_weight, SPEC.metric_name, SPEC.higher_is_better) == (1.0, "mIoU", True)
    assert isinstance(create_task("semseg", bind().dataset), SemanticSegmentationTask)


def test_class_count_comes_from_the_dataset():
    assert bind(21).num_outputs == 21
    with pytest.raises(SpecError, match="num_outputs"):
        bind(None)


# two images; the pixel predicted 2 under an ignore label must not count
TARGET = torch.tensor([[[0, 0], [1, 255]], [[2, 2], [0, 1]]])
PRED = torch.tensor([[[0, 1], [1, 2]], [[2, 0], [0, 1]]])
# class 0: TP 2 FP 1 FN 1 -> 1/2; class 1: TP 2 FP 1 -> 2/3; class 2: TP 1 FN 1 -> 1/2
HAND_IOUS = [1 / 2, 2 / 3, 1 / 2]


def test_miou_against_hand_computation():
    metric = bind(3).metric()
    metric.update(one_hot_logits(PRED, 3), TARGET)
    assert metric.compute()["mIoU"] == pytest.approx(100 * sum(HAND_IOUS) / 3)
    np.testing.assert_array_equal(metric.confusion.true_positives(), [2, 2, 1])


def test_miou_accumulates_over_batches_not_per_image():
    metric = bind(3).metric()
    for i in range(2):
        metric.update(one_hot_logits(PRED[i : i + 1], 3), TARGET[i : i + 1])
    assert metric.compute()["mIoU"] == pytest.approx(100 * sum(HAND_IOUS) / 3)


def test_absent_class_counts_zero_by_default_and_can_be_skipped():
    zero = bind(4).metric()
    zero.update(one_hot_logits(PRED, 4), TARGET)
    assert zero.compute()["mIoU"] == pytest.approx(100 * sum(HAND_IOUS) / 4)
    skip = bind(4, absent_classes="skip").metric()
    skip.update(one_hot_logits(PRED, 4), TARGET)
    assert skip.compute()["mIoU"] == pytest.approx(100 * sum(HAND_IOUS) / 3)
    with pytest.raises(SpecError):
        bind(4, absent_classes="drop").metric()


def test_target_class_out_of_range_is_an_error():
    metric = bind(2).metric()
    with pytest.raises(TargetError, match="num_outputs"):
        metric.update(torch.zeros(1, 2, 2, 2), torch.tensor([[[0, 1], [2, 0]]]))


def _random_case(seed, b, h, w, k, ignore_share=0.2):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, k, (b, h, w), generator=g)
    target[torch.rand(b, h, w, generator=g) < ignore_share] = 255
    logits = torch.randn(b, k, h, w, generator=g)
    return logits, target


def _score(task, logits, target):
    metric = task.metric()
    metric.update(logits, target)
    return metric.compute()["mIoU"]


case = dict(
    seed=st.integers(0, 2**31 - 1), b=st.integers(1, 3), h=st.integers(1, 6), w=st.integers(1, 6),
    k=st.integers(2, 5),
)


@settings(max_examples=30, deadline=None)
@given(**case)
def test_perfect_prediction_scores_100(seed, b, h, w, k):
    _, target = _random_case(seed, b, h, w, k, ignore_share=0.0)
    task = bind(k, absent_classes="skip")
    assert _score(task, one_hot_logits(target, k), target) == pytest.approx(100.0)


@settings(max_examples=30, deadline=None)
@given(**case, data=st.data())
def test_image_order_and_joint_flips_do_not_change_the_score(seed, b, h, w, k, data):
    logits, target = _random_case(seed, b, h, w, k)
    task = bind(k)
    base = _score(task, logits, target)
    order = torch.tensor(data.draw(st.permutations(range(b))))
    assert _score(task, logits[order], target[order]) == pytest.approx(base)
    assert _score(task, logits.flip(-1), target.flip(-1)) == pytest.approx(base)
    assert _score(task, logits.flip(-2), target.flip(-2)) == pytest.approx(base)


def test_loss_against_hand_computation_and_ignore():
    logits = torch.tensor([[[[1.0, 0.0]], [[0.0, 2.0]], [[-1.0, 0.5]]]])  # 1 x 3 x 1 x 2
    target = torch.tensor([[[2, 255]]])
    loss = bind(3).loss()(logits, target)
    log_prob = np.log(np.exp([1.0, 0.0, -1.0]) / np.exp([1.0, 0.0, -1.0]).sum())
    assert float(loss) == pytest.approx(-log_prob[2], rel=1e-6)  # one valid pixel, divided by 1


def test_loss_sums_over_valid_pixels_and_divides_by_their_count():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 4, 4, generator=g)
    target = torch.randint(0, 3, (2, 4, 4), generator=g)
    target[0, 0] = 255
    log_prob = torch.log_softmax(logits, 1)
    valid = target != 255
    picked = log_prob.gather(1, target.clamp(max=2)[:, None])[:, 0]
    expected = -(picked[valid]).sum() / valid.sum()
    assert float(bind(3).loss()(logits, target)) == pytest.approx(float(expected), rel=1e-6)
    assert float(bind(3).loss()(logits, torch.full_like(target, 255))) == 0.0


def test_gradients_flow_only_through_valid_pixels():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    target = torch.tensor([[[0, 1], [255, 2]]])
    bind(3).loss()(logits, target).backward()
    grad = logits.grad.abs().sum(dim=1)[0]
    assert grad[1, 0] == 0 and (grad[0] > 0).all() and grad[1, 1] > 0


def test_postprocess_save_and_visualise(tmp_path):
    task = bind(3)
    labels = task.postprocess(one_hot_logits(PRED, 3))
    assert labels.dtype == torch.int64 and torch.equal(labels, PRED)
    path = task.save_prediction(labels[0], tmp_path / "sub" / "2008_000001")
    assert path.name == "2008_000001.png"
    image = Image.open(path)
    assert image.mode == "P"
    np.testing.assert_array_equal(np.array(image), PRED[0].numpy())
    rgb = task.visualise(TARGET[0])
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[1, 1]) == VOID_COLOUR
    assert tuple(rgb[1, 0]) == tuple(label_palette()[1]) != tuple(rgb[0, 0])


def test_compute_with_nothing_added_is_zero_not_nan():
    scores = bind(3).metric().compute()
    assert scores["mIoU"] == 0.0 and not math.isnan(scores["pixel_accuracy"])


def test_conformance(tmp_path):
    check_task("semseg", "synthetic", tmp_path, count=4)

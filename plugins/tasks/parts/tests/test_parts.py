"""Human parts task: spec, loss weight, mIoU with images that have no person."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sak_core.plugin import DatasetSpec
from sak_core.testing import check_task, registered
from sak_task_parts import SPEC
from sak_task_parts.task import HumanPartsTask


def bind(num_outputs: int = 7, **options):
    options["num_outputs"] = num_outputs
    return SPEC.create(DatasetSpec(name="toy", factory=lambda **k: None, tasks={"parts": options}))


def one_hot_logits(labels: torch.Tensor, k: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(labels.clamp(max=k - 1), k).permute(0, 3, 1, 2).float() * 5.0


def test_registered_with_weight_2():
    entry = registered("task", "parts")
    assert entry.spec is SPEC and entry.distribution == "sak-task-parts"
    assert (SPEC.loss_weight, SPEC.metric_name, SPEC.higher_is_better) == (2.0, "mIoU", True)
    task = bind()
    assert isinstance(task, HumanPartsTask) and task.num_outputs == 7 and task.loss_weight == 2.0
    assert bind(loss_weight=3.0).loss_weight == 3.0


def test_miou_hand_computed_and_personless_images_do_not_count():
    # 3 classes: background and two parts
    target = torch.tensor([[[0, 1, 1, 2]]])
    pred = torch.tensor([[[0, 1, 2, 2]]])
    metric = bind(3).metric()
    metric.update(one_hot_logits(pred, 3), target)
    expected = 100 * (1 / 1 + 1 / 2 + 1 / 2) / 3  # bg TP1; part1 TP1 FN1; part2 TP1 FP1
    assert metric.compute()["mIoU"] == pytest.approx(expected)
    # an image without a person is all 255: whatever is predicted there changes nothing
    metric.update(one_hot_logits(torch.tensor([[[1, 2, 0, 1]]]), 3), torch.full((1, 1, 4), 255))
    assert metric.compute()["mIoU"] == pytest.approx(expected)


def test_absent_parts_score_zero_as_in_the_reference():
    target = torch.tensor([[[0, 0, 1, 1]]])
    metric = bind(7).metric()
    metric.update(one_hot_logits(target, 7), target)
    assert metric.compute()["mIoU"] == pytest.approx(100 * 2 / 7)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), b=st.integers(1, 3), data=st.data())
def test_properties(seed, b, data):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, 7, (b, 4, 5), generator=g)
    target[torch.rand(b, 4, 5, generator=g) < 0.2] = 255
    logits = torch.randn(b, 7, 4, 5, generator=g)

    def score(task, x, y):
        m = task.metric()
        m.update(x, y)
        return m.compute()["mIoU"]

    skip = bind(absent_classes="skip")
    clean = torch.where(target == 255, 0, target)
    assert score(skip, one_hot_logits(clean, 7), clean) == pytest.approx(100.0)
    task = bind()
    base = score(task, logits, target)
    order = torch.tensor(data.draw(st.permutations(range(b))))
    assert score(task, logits[order], target[order]) == pytest.approx(base)
    assert score(task, logits.flip(-1), target.flip(-1)) == pytest.approx(base)


def test_loss_is_cross_entropy_over_valid_pixels():
    logits = torch.randn(1, 7, 2, 3, requires_grad=True)
    target = torch.tensor([[[0, 3, 6], [255, 255, 1]]])
    loss = bind().loss()(logits, target)
    valid = target != 255
    expected = torch.nn.functional.cross_entropy(logits, target, ignore_index=255, reduction="sum")
    assert float(loss.detach()) == pytest.approx(float(expected.detach() / valid.sum()), rel=1e-6)
    loss.backward()
    assert logits.grad[0, :, 1, 0].abs().sum() == 0 and logits.grad[0, :, 0, 0].abs().sum() > 0


def test_conformance(tmp_path):
    check_task("parts", "synthetic", tmp_path, count=4)

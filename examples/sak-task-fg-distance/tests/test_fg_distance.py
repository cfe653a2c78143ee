"""Tests of the example fg_distance task."""

import torch

from sak_core.plugin import DatasetSpec, create_task, get_task_spec

from sak_task_fg_distance.task import SCALE, distance_target

WITH_SALIENCY = DatasetSpec(name="sal", factory=lambda **kw: None, tasks={"saliency": {}})


def test_target_by_hand():
    saliency = torch.zeros(1, 5, 5, dtype=torch.long)
    saliency[0, 1:4, 1:4] = 1  # a 3x3 square: centre is 2 px from background, ring 1 px
    saliency[0, 0, 0] = 255
    target = distance_target({"saliency": saliency})[0, 0] * SCALE
    assert target[2, 2] == 2 and target[1, 1] == 1 and target[1, 2] == 1
    assert target[0, 1] == 0 and target[0, 0] == 255 * SCALE


def test_supported_by_datasets_with_saliency_only():
    spec = get_task_spec("fg_distance")
    assert spec.supported_by(WITH_SALIENCY)
    assert not spec.supported_by(DatasetSpec(name="x", factory=lambda **kw: None, tasks={"semseg": {}}))


def test_perfect_prediction_scores_zero():
    task = create_task("fg_distance", dataset=WITH_SALIENCY)
    target = distance_target({"saliency": (torch.rand(2, 8, 8) > 0.5).long()})
    assert task.loss()(target, target).item() == 0
    metric = task.metric()
    metric.update(target, target)
    assert metric.compute()["mae"] == 0
    assert task.visualise(target[0]).shape == (8, 8, 3)

"""Distillation loss against the reference definition and by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sak_core.model.distill import crop_valid, distillation_loss, level_loss
from sak_core.plugin.teachers import TeacherOutput


def reference_level(student, teacher):
    """0.9 * CosineEmbeddingLoss(target 1) + 0.1 * SmoothL1, with the torch modules."""
    target = torch.ones(student.shape[0])
    return 0.9 * nn.CosineEmbeddingLoss()(student.flatten(1), teacher.flatten(1), target) + 0.1 * nn.SmoothL1Loss()(
        student, teacher
    )


def test_same_size_matches_reference_modules():
    torch.manual_seed(0)
    s, t = torch.randn(3, 8, 4, 5), torch.randn(3, 8, 4, 5)
    torch.testing.assert_close(level_loss(s, t), reference_level(s, t))


def test_hand_computed_value():
    s = torch.tensor([[[[1.0, 0.0]]]])  # B=1, C=1, 1x2
    t = torch.tensor([[[[0.0, 2.0]]]])
    # cosine of (1,0) and (0,2) is 0 -> 1 - 0 = 1; smooth L1: |1| -> 0.5, |2| -> 1.5, mean 1.0
    assert level_loss(s, t).item() == pytest.approx(0.9 * 1.0 + 0.1 * 1.0)
    assert level_loss(t, t).item() == pytest.approx(0.0, abs=1e-6)


def test_smaller_map_is_resized_to_the_larger():
    torch.manual_seed(0)
    small, large = torch.randn(2, 4, 3, 3), torch.randn(2, 4, 6, 6)
    up = F.interpolate(small, size=(6, 6), mode="bilinear", align_corners=False)
    torch.testing.assert_close(level_loss(small, large), reference_level(up, large))
    torch.testing.assert_close(level_loss(large, small), reference_level(large, up))


def test_valid_region_is_cropped_before_resizing():
    torch.manual_seed(0)
    student = torch.randn(1, 4, 2, 4)
    teacher = torch.randn(1, 4, 8, 8)  # padded grid: only the top 4 rows cover the image
    total, terms = distillation_loss({"sam": [student]}, {"sam": TeacherOutput([teacher], (4, 8))})
    torch.testing.assert_close(total, level_loss(student, teacher[:, :, :4, :8]))
    stretched, _ = distillation_loss({"sam": [student]}, {"sam": TeacherOutput([teacher], (4, 8))}, use_valid_region=False)
    torch.testing.assert_close(stretched, level_loss(student, teacher))
    assert list(terms) == ["sam/level0"]
    assert crop_valid(teacher, None) is teacher


def test_total_is_unweighted_sum_over_teachers_and_levels():
    torch.manual_seed(0)
    student = {n: [torch.randn(2, 4, 2, 2) for _ in range(3)] for n in ("a", "b")}
    teachers = {n: TeacherOutput([torch.randn(2, 4, 2, 2) for _ in range(3)]) for n in ("a", "b")}
    total, terms = distillation_loss(student, teachers)
    assert len(terms) == 6
    expected = sum(level_loss(s, t) for n in "ab" for s, t in zip(student[n], teachers[n].features))
    torch.testing.assert_close(total, expected)


def test_channel_mismatch_says_to_enable_aligners():
    with pytest.raises(ValueError, match="enable aligners"):
        level_loss(torch.randn(1, 4, 2, 2), torch.randn(1, 8, 2, 2))


def test_level_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="gives 2 levels but the student taps 1"):
        distillation_loss({"a": [torch.randn(1, 4, 2, 2)]}, {"a": TeacherOutput([torch.randn(1, 4, 2, 2)] * 2)})

"""Stage-1 scores: the cosine of a student's maps to its teachers' features and the centred
cosine, which a map constant over the image cannot score."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sak_core.evaluation.alignment import AlignmentScores, map_cosines
from sak_core.plugin.teachers import TeacherOutput

FINITE = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32)
SHAPES = st.tuples(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5), st.integers(1, 5))


def teacher_maps(shape):
    return arrays("float32", shape, elements=FINITE).map(torch.from_numpy)


def test_hand_computed_cosines():
    # one image, one channel, 1 x 2 map: student [1, 3], teacher [1, 2]
    student = torch.tensor([[[[1.0, 3.0]]]])
    teacher = torch.tensor([[[[1.0, 2.0]]]])
    plain, centred = map_cosines(student, teacher)
    assert plain.item() == pytest.approx((1 + 6) / (math.sqrt(10) * math.sqrt(5)))
    # centred: [-1, 1] and [-0.5, 0.5] point the same way
    assert centred.item() == pytest.approx(1.0)
    # two channels, 1 x 2: student [[1, 2], [0, 0]] (centred [[-.5, .5], [0, 0]]),
    # teacher [[2, 1], [5, 7]] (centred [[.5, -.5], [-1, 1]])
    student = torch.tensor([[[[1.0, 2.0]], [[0.0, 0.0]]]])
    teacher = torch.tensor([[[[2.0, 1.0]], [[5.0, 7.0]]]])
    plain, centred = map_cosines(student, teacher)
    assert plain.item() == pytest.approx((2 + 2) / (math.sqrt(5) * math.sqrt(79)))
    assert centred.item() == pytest.approx(-0.5 / (math.sqrt(0.5) * math.sqrt(2.5)))


def test_maps_of_different_sizes_are_matched_as_the_loss_matches_them():
    teacher = torch.arange(16.0).reshape(1, 1, 4, 4)
    small = torch.nn.functional.interpolate(teacher, size=(2, 2), mode="bilinear", align_corners=False)
    plain, centred = map_cosines(small, teacher)  # the student map is resized up to the teacher's
    assert 0.9 < plain.item() < 1 and 0.9 < centred.item() < 1


@settings(max_examples=60, deadline=None)
@given(data=st.data(), shape=SHAPES)
def test_a_perfect_prediction_scores_one(data, shape):
    teacher = data.draw(teacher_maps(shape))
    plain, centred = map_cosines(teacher.clone(), teacher)
    nonzero = teacher.double().flatten(1).norm(dim=1) > 0  # map_cosines works in float64
    assert torch.allclose(plain[nonzero], torch.ones_like(plain[nonzero]))
    assert torch.all(plain[~nonzero] == 0)
    structured = (teacher - teacher.mean(dim=(2, 3), keepdim=True)).flatten(1).norm(dim=1) > 1e-3
    assert torch.allclose(centred[structured], torch.ones_like(centred[structured]))


@settings(max_examples=100, deadline=None)
@given(data=st.data(), shape=SHAPES)
def test_a_constant_or_zero_prediction_scores_zero_on_the_centred_cosine(data, shape):
    batch, channels = shape[:2]
    teacher = data.draw(teacher_maps(shape))
    levels = data.draw(arrays("float32", (batch, channels, 1, 1), elements=FINITE).map(torch.from_numpy))
    constant = levels.expand(shape).contiguous()  # each channel one value over the whole map
    for prediction in (constant, torch.zeros(shape)):
        _, centred = map_cosines(prediction, teacher)
        assert torch.all(centred == 0), (prediction, teacher, centred)
    # the plain cosine of an all-zero map is 0 too; a constant map can score on it
    plain, _ = map_cosines(torch.zeros(shape), teacher)
    assert torch.all(plain == 0)


def test_a_constant_map_scores_on_the_plain_cosine_but_not_the_centred_one():
    # teacher features with a large constant part (as real ones have) and some structure
    generator = torch.Generator().manual_seed(0)
    base = torch.randn(1, 8, 1, 1, generator=generator) * 5
    teacher = base + torch.randn(4, 8, 6, 6, generator=generator)
    mean_map = teacher.mean(dim=(0, 2, 3), keepdim=True).expand_as(teacher)
    plain, centred = map_cosines(mean_map, teacher)
    assert plain.mean() > 0.9 and torch.all(centred == 0)


def test_scores_per_teacher_and_level_are_means_over_images():
    scores = AlignmentScores()
    t = torch.tensor([[[[1.0, 2.0]]], [[[1.0, 2.0]]]])  # two images, 1 channel, 1 x 2
    good, flipped = torch.tensor([[[[1.0, 2.0]]]]), torch.tensor([[[[2.0, 1.0]]]])
    student = {"a": [torch.cat([good, flipped]), t.clone()]}
    scores.update(student, {"a": TeacherOutput(features=[t, t])})
    scores.update({"a": [good, good]}, {"a": TeacherOutput(features=[t[:1], t[:1]])})
    result = scores.compute()["a"]
    flipped_cos = 4 / 5  # [2, 1] . [1, 2] / 5
    assert result["level0/cosine"] == pytest.approx((1 + flipped_cos + 1) / 3)
    assert result["level0/centred_cosine"] == pytest.approx((1 - 1 + 1) / 3)
    assert result["level1/cosine"] == pytest.approx(1.0) and result["level1/centred_cosine"] == pytest.approx(1.0)
    assert result["cosine"] == pytest.approx((result["level0/cosine"] + 1) / 2)
    assert list(result) == ["cosine", "centred_cosine", "level0/cosine", "level0/centred_cosine",
                            "level1/cosine", "level1/centred_cosine"]


def test_the_valid_region_of_a_padded_teacher_grid_is_used():
    teacher = torch.zeros(1, 1, 4, 4)
    teacher[..., :2, :2] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # the rest is padding
    student = {"a": [teacher[..., :2, :2].clone()]}
    cropped = AlignmentScores(use_valid_region=True)
    cropped.update(student, {"a": TeacherOutput(features=[teacher], valid_size=(2, 2))})
    assert cropped.compute()["a"]["cosine"] == pytest.approx(1.0)
    stretched = AlignmentScores(use_valid_region=False)
    stretched.update(student, {"a": TeacherOutput(features=[teacher], valid_size=(2, 2))})
    assert stretched.compute()["a"]["cosine"] < 0.99


def test_metrics_json_holds_the_scores_per_teacher_and_level():
    import json

    from sak_core.evaluation import EvalResult, metrics_document

    alignment = {"a": {"cosine": 0.5, "centred_cosine": 0.25, "level0/cosine": 0.4, "level0/centred_cosine": 0.2,
                       "level1/cosine": 0.6, "level1/centred_cosine": math.nan}}
    document = metrics_document(EvalResult({}, 3, distill_loss=1.5, alignment=alignment), {})
    assert document["distillation"] == {"loss": 1.5, "teachers": {"a": {
        "cosine": 0.5, "centred_cosine": 0.25,
        "levels": [{"cosine": 0.4, "centred_cosine": 0.2}, {"cosine": 0.6, "centred_cosine": None}]}}}
    json.dumps(document, allow_nan=False)
    assert metrics_document(EvalResult({}, 3), {})["distillation"] is None

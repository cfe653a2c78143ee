"""Tests of the example imagestats teacher: the kit at each precision it declares, and its maps."""

import pytest
import torch

from sak_core.plugin import IMAGENET_MEAN, IMAGENET_STD, SpecError, create_teacher, get_teacher_spec
from sak_core.testing import check_teacher


def test_conformance_at_fp32_and_bf16(tmp_path):
    spec = get_teacher_spec("imagestats")
    assert spec.precisions == ("fp32", "bf16") and not spec.has_weights and not spec.random_init
    check_teacher("imagestats", tmp_path, distribution="sak-teacher-imagestats")


def test_levels_widths_and_what_the_maps_measure():
    teacher = create_teacher("imagestats")
    assert list(teacher.parameters()) == []
    flat = torch.full((1, 3, 32, 48), 0.25)
    stripes = flat.clone()
    stripes[..., torch.arange(48) // 4 % 2 == 0] = 0.75  # vertical stripes 4 px wide: horizontal gradients
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    out = teacher((torch.cat([flat, stripes]) - mean) / std)  # the pipeline's normalisation
    assert [tuple(f.shape) for f in out.features] == [(2, 64, 4, 6)] * 4
    level0 = out.features[0]
    torch.testing.assert_close(level0[0, :3], torch.full((3, 4, 6), 0.25))  # colour mean of flat grey
    assert level0[0, 3:10].abs().max() < 1e-2  # no spread, no gradient
    assert level0[1, 3:6].min() > 0.2 and level0[1, 6:9].min() > 0.05  # spread and gradient of the stripes
    histogram = level0[1, 10:28].mean((1, 2))  # red channel's 18 orientation bins (20 degrees each)
    assert set(histogram.topk(2).indices.tolist()) == {0, 9}  # gradients along -x and +x only


def test_options_are_checked():
    assert get_teacher_spec("imagestats", bins=8, levels=2).feature_dim == 34
    assert get_teacher_spec("imagestats", levels=2).levels == 2
    with pytest.raises(SpecError, match="bins must be a positive integer"):
        get_teacher_spec("imagestats", bins=0)
    with pytest.raises(SpecError, match="has no weights to load"):
        create_teacher("imagestats", weights="random")

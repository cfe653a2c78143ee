"""Tests of the example convnext teacher."""

import pytest
import torch
from safetensors.torch import save_file

from sak_core.plugin import SpecError, create_teacher, get_teacher_spec
from sak_core.testing import check_teacher

TINY = {"variant": "convnext_atto", "arch": {"dims": [8, 16, 24, 32], "depths": [1, 1, 1, 1]}}


def test_conformance(tmp_path):
    check_teacher("convnext", tmp_path, **TINY)


def test_stage_features_have_per_level_widths_and_strides():
    teacher = create_teacher("convnext", weights="random", **TINY)
    out = teacher(torch.randn(2, 3, 64, 64))
    assert [tuple(f.shape) for f in out.features] == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 24, 4, 4), (2, 32, 2, 2)]
    assert get_teacher_spec("convnext", **TINY).feature_dim == (8, 16, 24, 32)
    assert not any(p.requires_grad for p in teacher.parameters()) and not teacher.train().training


def test_local_weights_round_trip(tmp_path):
    source = create_teacher("convnext", weights="random", **TINY)
    state = {k: torch.randn_like(v) for k, v in source.model.state_dict().items() if v.is_floating_point()}
    save_file(state, str(tmp_path / "w.safetensors"))
    loaded = create_teacher("convnext", weights=str(tmp_path / "w.safetensors"), **TINY)
    for key, value in state.items():
        torch.testing.assert_close(loaded.model.state_dict()[key], value, rtol=0, atol=0)


def test_variant_from_the_name():
    assert get_teacher_spec("convnext:convnext_base").feature_dim == (128, 256, 512, 1024)
    with pytest.raises(SpecError, match="timm has no model 'convnext_huge'"):
        get_teacher_spec("convnext:convnext_huge")

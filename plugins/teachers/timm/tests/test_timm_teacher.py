"""Tests of the generic timm teacher and the teacher helpers it relies on (tiny sizes)."""

from __future__ import annotations


import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from sak_core.plugin import (
    RandomWeightsWarning,
    SpecError,
    create_teacher,
    even_taps,
    fit_to_patch_grid,
    get_teacher_spec,
    take_levels,
)
from sak_core.testing import check_teacher

VARIANT = "vit_small_patch16_224.augreg_in21k_ft_in1k"
TINY = dict(embed_dim=32, depth=2, num_heads=2, img_size=32)


@pytest.fixture(scope="module")
def teacher():
    with pytest.warns(RandomWeightsWarning, match=f"'timm:{VARIANT}'"):
        return create_teacher(f"timm:{VARIANT}", weights="random", arch=TINY)


@given(depth=st.integers(1, 64), levels=st.integers(1, 6))
def test_even_taps_spread_over_the_blocks(depth, levels):
    taps = even_taps(depth, levels)
    assert len(taps) == levels and taps[-1] == depth - 1
    assert list(taps) == sorted(taps) and all(0 <= t < depth for t in taps)
    if depth >= levels:
        assert len(set(taps)) == levels


@given(h=st.integers(1, 80), w=st.integers(1, 80), patch=st.sampled_from([8, 14, 16]), crop=st.booleans())
def test_fit_to_patch_grid_gives_whole_patches(h, w, patch, crop):
    out = fit_to_patch_grid(torch.zeros(1, 3, h, w), patch, crop=crop)
    assert out.shape[-2] % patch == 0 and out.shape[-1] % patch == 0
    if crop and h >= patch and w >= patch:
        assert out.shape[-2:] == (h // patch * patch, w // patch * patch)


def test_take_levels_maps_repeated_taps():
    calls = []

    def run(indices):
        calls.append(indices)
        return [torch.full((1,), float(i)) for i in indices]

    maps = take_levels(run, (0, 0, 1, 1))
    assert calls == [[0, 1]] and [m.item() for m in maps] == [0, 0, 1, 1]


def test_conformance(tmp_path):
    check_teacher(f"timm:{VARIANT}", tmp_path, distribution="sak-teacher-timm", arch=TINY)


def test_configure_reads_the_model_without_weights():
    spec = get_teacher_spec("timm:vit_large_patch16_224")
    assert (spec.feature_dim, spec.tap_indices, spec.patch_size) == (1024, (5, 11, 17, 23), 16)
    spec = get_teacher_spec(f"timm:{VARIANT}", taps=(1, 3))
    assert spec.tap_indices == (1, 3) and spec.mean == (0.5, 0.5, 0.5)
    assert spec.weights[0].url.endswith(f"timm/{VARIANT}/resolve/main/model.safetensors")


def test_features_shapes_and_levels(teacher):
    out = teacher(torch.randn(2, 3, 32, 48))
    assert teacher.spec.tap_indices == (0, 0, 1, 1)
    assert [tuple(f.shape) for f in out.features] == [(2, 32, 2, 3)] * 4
    assert torch.equal(out.features[0], out.features[1]) and not torch.equal(out.features[1], out.features[2])


def test_explicit_taps(teacher):
    with pytest.warns(RandomWeightsWarning):
        t = create_teacher(f"timm:{VARIANT}", weights="random", arch=TINY, taps=(1,))
    assert len(t(torch.randn(1, 3, 32, 32)).features) == 1
    with pytest.raises(SpecError, match="taps \\[2\\] must be indices in 0..1"):
        get_teacher_spec(f"timm:{VARIANT}", arch=TINY, taps=(2,))


def test_unknown_and_non_vit_models_are_clear_errors():
    with pytest.raises(SpecError, match="similar names: vit_small_patch16_224"):
        get_teacher_spec("timm:vit_smal_patch16_224")
    with pytest.raises(SpecError, match="not ViT-like"):
        get_teacher_spec("timm:resnet18")

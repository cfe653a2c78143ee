"""Tests of the dinov2 teacher at tiny sizes, through the code path of the real sizes."""

from __future__ import annotations


import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sak_core.plugin import CheckpointError, RandomWeightsWarning, SpecError, create_teacher, get_teacher_spec
from sak_core.testing import check_teacher

TINY = dict(embed_dim=32, depth=4, num_heads=2, img_size=56)


@pytest.fixture(scope="module")
def teacher():
    with pytest.warns(RandomWeightsWarning, match="'dinov2'"):
        return create_teacher("dinov2", weights="random", arch=TINY)


def test_conformance(tmp_path):
    check_teacher("dinov2", tmp_path, distribution="sak-teacher-dinov2", arch=TINY)


@pytest.mark.parametrize(
    ("size", "dim", "taps"),
    [("small", 384, (2, 5, 8, 11)), ("base", 768, (2, 5, 8, 11)), ("large", 1024, (5, 11, 17, 23)),
     ("giant", 1536, (9, 19, 29, 39))],
)
def test_configure_gives_the_size_without_building(size, dim, taps):
    for spec in (get_teacher_spec("dinov2", size=size), get_teacher_spec(f"dinov2:{size}")):
        assert (spec.feature_dim, spec.tap_indices, spec.patch_size) == (dim, taps, 14)
        assert spec.weights[0].filename == f"vit_{size}_patch14_dinov2.lvd142m.safetensors"


def test_features_shapes_levels_and_spec_agree(teacher):
    out = teacher(torch.randn(2, 3, 56, 42))
    spec = get_teacher_spec("dinov2", arch=TINY)
    assert teacher.spec.tap_indices == spec.tap_indices == (0, 1, 2, 3)
    assert [tuple(f.shape) for f in out.features] == [(2, 32, 4, 3)] * 4
    assert out.valid_size is None
    assert not torch.equal(out.features[0], out.features[-1])  # distinct blocks, not one map repeated


def test_taps_are_raw_block_outputs(teacher):
    images = torch.randn(1, 3, 56, 56)
    out = teacher(images)
    with torch.no_grad():
        tokens = teacher.model.forward_features(images)  # after the final norm
    last = tokens[:, teacher.model.num_prefix_tokens:].transpose(1, 2).reshape(1, 32, 4, 4)
    assert not torch.allclose(out.features[-1], last, atol=1e-4)  # no final norm on the taps
    assert torch.allclose(teacher.model.norm(out.features[-1].flatten(2).transpose(1, 2)),
                          last.flatten(2).transpose(1, 2), atol=1e-5)


@settings(max_examples=12, deadline=None)
@given(h=st.integers(20, 90), w=st.integers(20, 90), faithful=st.booleans())
def test_grid_covers_the_image_unless_faithful(teacher, h, w, faithful):
    teacher.faithful = faithful
    try:
        out = teacher(torch.randn(1, 3, h, w))
    finally:
        teacher.faithful = False
    # faithful: the pixels past the last full patch are dropped; else the image is resized to fit
    expect = (h // 14, w // 14) if faithful else (int(h / 14 + 0.5), int(w / 14 + 0.5))
    assert tuple(out.features[0].shape[-2:]) == expect


def test_file_of_another_size_is_refused(tmp_path, teacher):
    path = tmp_path / "deeper.pth"
    torch.save(dict(teacher.model.state_dict()), path)
    with pytest.raises(CheckpointError, match=r"does not fit teacher 'dinov2'.*unexpected keys: blocks\.3"):
        create_teacher("dinov2", weights=path, arch={**TINY, "depth": 3})


def test_bad_options_are_clear_errors():
    with pytest.raises(SpecError, match="did you mean 'weights'"):
        create_teacher("dinov2", weigths="random")
    with pytest.raises(SpecError, match="no size 'huge'.*small, base, large, giant"):
        get_teacher_spec("dinov2", size="huge")


@pytest.mark.slow
def test_real_base_architecture():
    with pytest.warns(RandomWeightsWarning):
        teacher = create_teacher("dinov2", weights="random")
    out = teacher(torch.randn(1, 3, 224, 224))
    assert teacher.spec.tap_indices == (2, 5, 8, 11) and len(teacher.model.blocks) == 12
    assert [tuple(f.shape) for f in out.features] == [(1, 768, 16, 16)] * 4

"""Tests of the sam teacher (segment-anything and timm backends) at tiny sizes."""

from __future__ import annotations


import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sak_core.plugin import CheckpointError, RandomWeightsWarning, SpecError, create_teacher, get_teacher_spec
from sak_core.testing import check_teacher, offline_weights
from sak_teacher_sam.encoders import resize_longest_side

# Windowed blocks 0 and 2 (window 2 on a 4 x 4 grid), global-attention blocks 1 and 3.
TINY = dict(embed_dim=32, depth=4, num_heads=2, img_size=64, global_attn_indexes=(1, 3), window_size=2)


@pytest.fixture(scope="module")
def teacher():
    with pytest.warns(RandomWeightsWarning, match="'sam'"):
        return create_teacher("sam", weights="random", arch=TINY)


def sam_checkpoint(teacher) -> dict[str, torch.Tensor]:
    """The teacher's encoder in the layout of the official SAM files (plus a decoder key)."""
    state = {f"image_encoder.{k}": v for k, v in teacher.model.state_dict().items()}
    state["mask_decoder.iou_token.weight"] = torch.randn(1, 8)
    return state


@pytest.mark.parametrize("backend", ["segment_anything", "timm"])
@pytest.mark.parametrize("input_size", [None, 32])
def test_conformance(tmp_path, backend, input_size):
    check_teacher("sam", tmp_path, distribution="sak-teacher-sam", backend=backend, input_size=input_size, arch=TINY)


@pytest.mark.parametrize(
    ("size", "dim", "taps"),
    [("vit_b", 768, (2, 5, 8, 11)), ("vit_l", 1024, (5, 11, 17, 23)), ("vit_h", 1280, (7, 15, 23, 31))],
)
def test_configure_taps_the_global_attention_blocks(size, dim, taps):
    for backend in ("segment_anything", "timm"):
        spec = get_teacher_spec(f"sam:{size}", backend=backend)
        assert (spec.feature_dim, spec.tap_indices, spec.input_size, spec.patch_size) == (dim, taps, (1024, 1024), 16)
        assert any(s.url.startswith("https://dl.fbaipublicfiles.com/segment_anything/sam_") for s in spec.weights)
    assert get_teacher_spec("sam", arch=dict(depth=4)).tap_indices == (0, 1, 2, 3)


def test_features_and_valid_region_of_a_wide_image(teacher):
    out = teacher(torch.randn(2, 3, 32, 64))  # resized to 32 x 64, padded to 64 x 64
    assert [tuple(f.shape) for f in out.features] == [(2, 32, 4, 4)] * 2
    assert out.valid_size == (2, 4)


@settings(max_examples=10, deadline=None)
@given(h=st.integers(8, 96), w=st.integers(8, 96))
def test_valid_region_covers_the_resized_image(teacher, h, w):
    out = teacher(torch.randn(1, 3, h, w))
    scale = 64 / max(h, w)
    rows, cols = -(-int(h * scale + 0.5) // 16), -(-int(w * scale + 0.5) // 16)
    assert out.valid_size == (None if (rows, cols) == (4, 4) else (rows, cols))


@pytest.mark.parametrize("backend", ["segment_anything", "timm"])
def test_input_size_sets_the_grid_and_valid_region(backend):
    spec = get_teacher_spec("sam", input_size=768)
    assert spec.input_size == (768, 768) and get_teacher_spec("sam").input_size == (1024, 1024)
    with pytest.warns(RandomWeightsWarning):
        small = create_teacher("sam", backend=backend, weights="random", arch=TINY, input_size=32)
    out = small(torch.randn(2, 3, 24, 48))  # -> 16 x 32, padded to 32 x 32: the top row of cells is image
    assert [tuple(f.shape) for f in out.features] == [(2, 32, 2, 2)] * 2 and out.valid_size == (1, 2)
    with pytest.raises(SpecError, match="input_size=500 must be a multiple of its patch size 16"):
        get_teacher_spec("sam", input_size=500)


def test_same_weights_at_another_input_size(tmp_path, teacher):
    """The encoder is built at its img_size (so official weights load) and run at input_size."""
    path = tmp_path / "sam.pth"
    torch.save(sam_checkpoint(teacher), path)
    smaller = create_teacher("sam", weights=path, arch=TINY, input_size=48)
    assert all(torch.equal(smaller.model.state_dict()[k], v) for k, v in teacher.model.state_dict().items())
    assert [tuple(f.shape) for f in smaller(torch.randn(1, 3, 48, 48)).features] == [(1, 32, 3, 3)] * 2


def test_padding_is_zero_after_normalisation():
    images = torch.randn(1, 3, 30, 60)
    padded, (h, w) = resize_longest_side(images, 64)
    assert padded.shape == (1, 3, 64, 64) and (h, w) == (32, 64)
    assert torch.count_nonzero(padded[..., 32:, :]) == 0


def test_faithful_reports_no_valid_region():
    with pytest.warns(RandomWeightsWarning):
        teacher = create_teacher("sam", weights="random", arch=TINY, faithful=True)
    assert teacher(torch.randn(1, 3, 32, 64)).valid_size is None


def test_official_checkpoint_round_trips_from_the_cache(tmp_path, teacher):
    with offline_weights(tmp_path) as cache:
        torch.save(sam_checkpoint(teacher), cache / "sam_vit_b_01ec64.pth")
        loaded = create_teacher("sam", arch=TINY)
    assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in teacher.model.state_dict().items())


@pytest.mark.parametrize("direction", ["segment_anything->timm", "timm->segment_anything"])
def test_backends_agree_on_the_same_weights(tmp_path, teacher, direction):
    path = tmp_path / "sam.pth"
    if direction == "segment_anything->timm":
        source = teacher
        torch.save(sam_checkpoint(source), path)  # converted by timm's SAM filter
        target = create_teacher("sam", backend="timm", weights=path, arch=TINY)
    else:
        with pytest.warns(RandomWeightsWarning):
            source = create_teacher("sam", backend="timm", weights="random", arch=TINY)
        torch.save(dict(source.model.state_dict()), path)  # timm layout: mlp.fc1 -> mlp.lin1
        target = create_teacher("sam", weights=path, arch=TINY)
    images = torch.randn(2, 3, 48, 64)
    a, b = source(images), target(images)
    assert a.valid_size == b.valid_size == (3, 4)
    for fa, fb in zip(a.features, b.features):
        torch.testing.assert_close(fa, fb, atol=1e-5, rtol=1e-5)


def test_checkpoint_of_another_size_is_refused(tmp_path, teacher):
    path = tmp_path / "sam.pth"
    torch.save(sam_checkpoint(teacher), path)
    with pytest.raises(CheckpointError, match=r"does not fit teacher 'sam'.*shape mismatches"):
        create_teacher("sam", weights=path, arch={**TINY, "embed_dim": 64})


def test_bad_options_are_clear_errors():
    with pytest.raises(SpecError, match="no size 'vit_s'"):
        get_teacher_spec("sam:vit_s")
    with pytest.raises(SpecError, match="no backend 'hf'"):
        get_teacher_spec("sam", backend="hf")


@pytest.mark.slow
def test_real_base_architecture():
    with pytest.warns(RandomWeightsWarning):
        teacher = create_teacher("sam", weights="random")
    out = teacher(torch.randn(1, 3, 48, 64))
    assert [tuple(f.shape) for f in out.features] == [(1, 768, 64, 64)] * 4
    assert out.valid_size == (48, 64)

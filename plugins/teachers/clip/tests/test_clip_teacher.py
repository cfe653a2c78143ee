"""Tests of the clip teacher (open_clip and timm backends) at tiny sizes."""

from __future__ import annotations


import pytest
import torch

from sak_core.plugin import CheckpointError, RandomWeightsWarning, SpecError, create_teacher, get_teacher_spec
from sak_core.testing import check_teacher, offline_weights

TINY = dict(embed_dim=32, depth=4, num_heads=2, img_size=32)
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)


@pytest.fixture(scope="module", params=["open_clip", "timm"])
def teacher(request):
    with pytest.warns(RandomWeightsWarning, match="'clip'"):
        return create_teacher("clip", backend=request.param, weights="random", arch=TINY)


@pytest.mark.parametrize("backend", ["open_clip", "timm"])
def test_conformance(tmp_path, backend):
    check_teacher("clip", tmp_path, distribution="sak-teacher-clip", backend=backend, arch=TINY)


def test_default_spec_is_what_configure_gives():
    default = get_teacher_spec("clip")
    configured = get_teacher_spec("clip", variant="ViT-B-16", pretrained="laion2b_s34b_b88k")
    assert default == configured
    assert (default.feature_dim, default.tap_indices, default.patch_size, default.mean) == (
        768, (2, 5, 8, 11), 16, OPENAI_MEAN)


def test_paper_preset_on_timm():
    spec = get_teacher_spec("clip", backend="timm")
    assert (spec.feature_dim, spec.tap_indices, spec.patch_size, spec.input_size) == (768, (2, 5, 8, 11), 16, (384, 384))
    assert spec.mean == OPENAI_MEAN
    assert spec.weights[0].url == ("https://huggingface.co/timm/vit_base_patch16_clip_384.laion2b_ft_in12k_in1k"
                                   "/resolve/main/model.safetensors")


def test_large_variant_and_bad_names():
    spec = get_teacher_spec("clip:ViT-L-14", pretrained="openai")
    assert (spec.feature_dim, spec.tap_indices, spec.patch_size) == (1024, (5, 11, 17, 23), 14)
    with pytest.raises(SpecError, match="no pretrained tag 'nope'.*laion2b_s34b_b88k"):
        get_teacher_spec("clip", pretrained="nope")
    with pytest.raises(SpecError, match="no backend 'hf'"):
        get_teacher_spec("clip", backend="hf")
    with pytest.raises(SpecError, match="use backend='timm'"):
        get_teacher_spec("clip:ViT-B-16-SigLIP")


def test_features_shapes_and_levels(teacher):
    out = teacher(torch.randn(2, 3, 32, 48))
    assert teacher.spec.tap_indices == (0, 1, 2, 3)
    assert [tuple(f.shape) for f in out.features] == [(2, 32, 2, 3)] * 4
    assert out.valid_size is None


def test_own_statistics_unless_faithful(teacher):
    images = torch.randn(1, 3, 32, 32)
    own = teacher(images).features[-1]
    teacher.faithful = True
    try:
        reference = teacher(images).features[-1]
        assert torch.equal(teacher.renormalize(images), images)
    finally:
        teacher.faithful = False
    assert not torch.allclose(own, reference)


def test_open_clip_blocks_match_open_clip_at_native_size():
    """Our embedding (which resamples position embeddings) is open_clip's own at its size."""
    with pytest.warns(RandomWeightsWarning):
        teacher = create_teacher("clip", weights="random", arch=TINY, faithful=True)
    images = torch.randn(2, 3, 32, 32)
    ours = teacher(images).features
    with torch.no_grad():
        theirs = teacher.model.forward_intermediates(images, indices=[0, 1, 2, 3], intermediates_only=True)
    for a, b in zip(ours, theirs["image_intermediates"]):
        torch.testing.assert_close(a, b)


def test_open_clip_checkpoint_round_trips(tmp_path):
    """A full open_clip checkpoint (visual + text keys) in the cache loads its visual part exactly."""
    with pytest.warns(RandomWeightsWarning):
        source = create_teacher("clip", weights="random", arch=TINY)
    state = {f"visual.{k}": v for k, v in source.model.state_dict().items()}
    state["token_embedding.weight"] = torch.randn(10, 8)  # the text tower is ignored
    filename = get_teacher_spec("clip").weights[1].filename  # the .bin source
    with offline_weights(tmp_path) as cache:
        torch.save(state, cache / filename)
        loaded = create_teacher("clip", arch=TINY)
    assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in source.model.state_dict().items())


def test_truncated_checkpoint_is_refused(tmp_path):
    with pytest.warns(RandomWeightsWarning):
        source = create_teacher("clip", weights="random", arch=TINY)
    path = tmp_path / "open_clip_ViT-B-16_laion2b_s34b_b88k.bin"
    torch.save({f"visual.{k}": v for k, v in source.model.state_dict().items()}, path)
    path.write_bytes(path.read_bytes()[:-4096])
    with offline_weights(tmp_path), pytest.raises(CheckpointError, match="truncated, corrupt"):
        create_teacher("clip", arch=TINY)


@pytest.mark.slow
def test_real_base_architecture():
    with pytest.warns(RandomWeightsWarning):
        teacher = create_teacher("clip", weights="random")
    out = teacher(torch.randn(1, 3, 224, 224))
    assert [tuple(f.shape) for f in out.features] == [(1, 768, 14, 14)] * 4
    assert len(teacher.model.transformer.resblocks) == 12

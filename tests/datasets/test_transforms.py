"""Properties of the stage-2 augmentation (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sak_core.datasets.transforms import (
    DenseTransform, add_ignore_regions, hflip, pad, photometric_distortion, random_crop, rescale,
)

FAST = settings(max_examples=25, deadline=None)


@st.composite
def raw_samples(draw, max_side: int = 24):
    """A raw sample with every task; random labels, unit normals, positive depth, a few holes."""
    h = draw(st.integers(4, max_side))
    w = draw(st.integers(4, max_side))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    normals = rng.normal(size=(h, w, 3)).astype(np.float32)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    depth = rng.uniform(0.5, 10.0, size=(h, w)).astype(np.float32)
    holes = rng.random((h, w)) < 0.1
    normals[holes] = 0
    depth[holes] = 0
    return {
        "image": rng.uniform(0, 255, size=(h, w, 3)).astype(np.float32),
        "semseg": rng.choice(np.array([0, 3, 7, 255], dtype=np.uint8), size=(h, w)),
        "parts": rng.integers(0, 7, size=(h, w)).astype(np.uint8),
        "saliency": rng.integers(0, 2, size=(h, w)).astype(np.uint8),
        "boundaries": (rng.random((h, w)) < 0.2).astype(np.float32),
        "normals": normals,
        "depth": depth,
    }


@FAST
@given(raw_samples())
def test_flip_twice_is_identity(sample):
    twice = hflip(hflip(sample))
    for key, value in sample.items():
        np.testing.assert_array_equal(twice[key], value)


@FAST
@given(raw_samples())
def test_flip_mirrors_and_negates_normal_x(sample):
    flipped = hflip(sample)
    np.testing.assert_array_equal(flipped["normals"][..., 0], -sample["normals"][:, ::-1, 0])
    np.testing.assert_array_equal(flipped["normals"][..., 1:], sample["normals"][:, ::-1, 1:])
    np.testing.assert_array_equal(flipped["semseg"], sample["semseg"][:, ::-1])


@FAST
@given(raw_samples(), st.floats(0.5, 2.0))
def test_scaling_keeps_labels_in_their_label_set(sample, scale):
    scaled = rescale(sample, scale)
    h, w = sample["image"].shape[:2]
    assert scaled["image"].shape[:2] == (max(1, int(h * scale)), max(1, int(w * scale)))
    for key in ("semseg", "parts", "saliency", "boundaries"):
        assert set(np.unique(scaled[key])) <= set(np.unique(sample[key]))
        assert scaled[key].dtype == sample[key].dtype
    valid = np.any(scaled["normals"] != 0, axis=-1)
    np.testing.assert_allclose(np.linalg.norm(scaled["normals"][valid], axis=-1), 1.0, atol=1e-5)


@FAST
@given(st.integers(4, 20), st.integers(4, 20), st.floats(0.5, 10.0), st.floats(0.5, 2.0))
def test_depth_is_divided_by_the_scale(h, w, depth, scale):
    sample = {"image": np.zeros((h, w, 3), np.float32), "depth": np.full((h, w), depth, np.float32)}
    scaled = rescale(sample, scale)
    np.testing.assert_allclose(scaled["depth"], depth / scale, rtol=1e-5)


@FAST
@given(raw_samples(), st.floats(0.5, 2.0))
def test_scaling_keeps_missing_depth_missing(sample, scale):
    scaled = rescale(sample, scale)
    # every valid scaled depth lies within the range of valid input depths divided by the scale
    valid = sample["depth"][sample["depth"] > 0]
    out = scaled["depth"][scaled["depth"] > 0]
    if out.size:
        assert out.min() >= valid.min() / scale - 1e-4 and out.max() <= valid.max() / scale + 1e-4


@FAST
@given(raw_samples(max_side=16), st.integers(8, 30), st.integers(8, 30))
def test_padding_marks_ignore(sample, th, tw):
    padded, (top, left, h, w) = pad(sample, (th, tw))
    padded = add_ignore_regions(padded)
    assert (h, w) == sample["image"].shape[:2]
    assert padded["image"].shape[:2] == (max(th, h), max(tw, w))
    inside = np.zeros(padded["image"].shape[:2], bool)
    inside[top:top + h, left:left + w] = True
    assert top == (max(th, h) - h) // 2 and left == (max(tw, w) - w) // 2
    assert (padded["image"][~inside] == 0).all()
    for key in ("semseg", "parts", "saliency", "boundaries", "depth"):
        assert (padded[key][~inside] == 255).all()
    assert (padded["normals"][~inside] == 255).all()
    np.testing.assert_array_equal(padded["semseg"][inside].reshape(h, w), sample["semseg"])


def test_ignore_regions():
    sample = {"image": np.zeros((2, 3, 3), np.float32),
              "normals": np.zeros((2, 3, 3), np.float32), "depth": np.array([[0, 1, 2], [3, 0, 1]], np.float32),
              "parts": np.zeros((2, 3), np.uint8)}
    sample["normals"][0, 0] = (0, 0, 1)
    out = add_ignore_regions(sample)
    assert (out["normals"][1] == 255).all() and (out["normals"][0, 0] == (0, 0, 1)).all()
    assert out["depth"][0, 0] == 255 and out["depth"][1, 1] == 255 and out["depth"][0, 1] == 1
    assert (out["parts"] == 255).all(), "no person: every part pixel is ignored"
    sample["parts"][0, 0] = 3
    assert (add_ignore_regions(sample)["parts"] == sample["parts"]).all()


@FAST
@given(raw_samples(), st.integers(0, 2**31))
def test_crop_cuts_every_array_alike(sample, seed):
    h, w = sample["image"].shape[:2]
    size = (max(2, h // 2), max(2, w // 2))
    crop = random_crop(sample, size, np.random.default_rng(seed), cat_max_ratio=0.75)
    for value in crop.values():
        assert value.shape[:2] == size
    # the crop is a window of the input: find it through the image
    image = sample["image"]
    hits = [(t, l) for t in range(h - size[0] + 1) for l in range(w - size[1] + 1)
            if np.array_equal(image[t:t + size[0], l:l + size[1]], crop["image"])]
    t, l = hits[0]
    np.testing.assert_array_equal(crop["depth"], sample["depth"][t:t + size[0], l:l + size[1]])


def test_cat_max_ratio_redraws_crops_dominated_by_one_class():
    semseg = np.zeros((34, 34), np.uint8)
    semseg[:14, :14] = 1  # a crop of 20 x 20 rarely holds more than 25 % of class 1
    sample = {"image": np.zeros((34, 34, 3), np.float32), "semseg": semseg}

    def balanced(ratio: float) -> float:
        ok = 0
        for seed in range(200):
            crop = random_crop(sample, (20, 20), np.random.default_rng(seed), cat_max_ratio=ratio)["semseg"]
            ok += (crop == 1).mean() > 0.25
        return ok / 200

    assert balanced(0.75) > 0.3 > 0.2 > balanced(1.0)


@FAST
@given(raw_samples(), st.integers(0, 2**31))
def test_photometric_distortion_stays_in_range(sample, seed):
    out = photometric_distortion(sample["image"], np.random.default_rng(seed))
    assert out.shape == sample["image"].shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255


@FAST
@given(raw_samples(), st.integers(0, 2**31))
def test_training_pipeline_output_size_and_ignore(sample, seed):
    transform = DenseTransform((20, 20), train=True)
    out, (top, left, h, w) = transform(sample, np.random.default_rng(seed))
    assert out["image"].shape == (20, 20, 3)
    for key in ("semseg", "parts", "saliency", "boundaries", "depth"):
        assert out[key].shape == (20, 20)
        values = set(np.unique(out[key]).tolist())
        if key in ("semseg", "saliency"):
            assert values <= set(np.unique(sample[key]).tolist()) | {255}
    assert 0 <= top and top + h <= 20 and 0 <= left and left + w <= 20

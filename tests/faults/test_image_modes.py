"""Images of every PIL mode and size (from 1x1) through the dataset reader and `sak predict`'s
reader: the right shape, no clipping of 16-bit grey, never a traceback."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from sak_core.datasets.files import read_rgb
from sak_core.evaluation.prediction import read_image, to_pixels

MODES = ["L", "LA", "P", "RGB", "RGBA", "I;16", "CMYK"]
FORMATS = {"L": "PNG", "LA": "PNG", "P": "PNG", "RGB": "PNG", "RGBA": "PNG", "I;16": "PNG", "CMYK": "JPEG"}


@st.composite
def images(draw):
    mode = draw(st.sampled_from(MODES))
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, size=(h, w), dtype=np.uint16))
    else:
        rgba = Image.fromarray(rng.integers(0, 256, size=(h, w, 4), dtype=np.uint8))
        image = rgba if mode == "RGBA" else rgba.convert("RGB").convert(mode) if mode in ("CMYK", "P") \
            else rgba.convert(mode)
    return mode, image


def _expected_grey16(image: Image.Image) -> np.ndarray:
    return np.rint(np.asarray(image, dtype=np.float64) * 255 / 65535)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(images())
def test_every_mode_and_size_reads_as_rgb(tmp_path, drawn):
    mode, image = drawn
    buffer = io.BytesIO()
    image.save(buffer, format=FORMATS[mode])
    data = buffer.getvalue()
    path = tmp_path / f"image.{FORMATS[mode].lower()}"
    path.write_bytes(data)

    dataset = read_rgb(data, name="drawn")
    predict = read_image(path)
    h, w = image.height, image.width
    assert dataset.shape == (h, w, 3) and dataset.dtype == np.float32
    assert predict.shape == (h, w, 3) and predict.dtype == np.uint8
    assert 0 <= dataset.min() and dataset.max() <= 255
    assert np.abs(predict.astype(float) - dataset).max() <= 0.5  # one reading, rounded for predict
    assert np.array_equal(to_pixels(Image.open(path)), predict)
    if mode == "I;16":  # scaled from 16 bits, not clipped to white
        assert np.array_equal(predict[..., 0], _expected_grey16(Image.open(path)).astype(np.uint8))
        assert np.array_equal(predict[..., 0], predict[..., 1])
    if mode in ("RGB", "L"):
        assert np.array_equal(predict, np.asarray(Image.open(path).convert("RGB")))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(images())
def test_every_mode_and_size_predicts_at_its_own_size(tiny_depth_student, drawn):
    import sak_core

    mode, image = drawn
    depth = sak_core.predict(tiny_depth_student, image, tasks=["depth"])["depth"]
    assert depth.shape[-2:] == (image.height, image.width) and bool(depth.isfinite().all())


@pytest.fixture(scope="module")
def tiny_depth_student():
    import torch

    from sak_core.model import SAKStudent, StudentConfig

    pytest.importorskip("sak_task_depth")
    torch.manual_seed(0)
    return SAKStudent(StudentConfig(stem="vit_small", stem_overrides={"embed_dim": 32, "depth": 2, "num_heads": 2},
                                    input_size=(32, 32), stem_pretrained=False, tasks={"depth": 1})).eval()

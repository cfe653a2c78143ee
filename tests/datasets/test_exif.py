"""One image reader for `sak predict FILE` and the dataset loaders: a phone photo stored on its
side with an EXIF rotation tag is read upright by both (the datasets read it as stored, so the
same photo predicted by path and through `--ids` differed). A label file is turned only by its
own tag (see docs/datasets.md)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from sak_core.plugin.lookup import get_dataset_spec
from sak_core.datasets.errors import CorruptFileError
from sak_core.datasets.files import read_png, read_rgb
from sak_core.evaluation.prediction import crop_box, denormalise, read_image, to_pixels
from tests.datasets.conftest import SIZE

ORIENTATION = 0x0112


def _exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    return exif


def _store_on_its_side(upright: Image.Image, path, **save) -> None:
    """Save ``upright`` as a phone does: pixels turned 90 degrees, orientation 6 (rotate 90 CW to view)."""
    upright.transpose(Image.Transpose.ROTATE_90).save(path, exif=_exif(6), **save)


@pytest.fixture
def rotated_photo_tree(trees, tmp_path):
    """A pascal-context tree whose first photo is stored on its side with EXIF orientation 6."""
    root = tmp_path / "pascal-context"
    shutil.copytree(trees["pascal-context"], root)
    path = root / "JPEGImages" / "synth_000000.jpg"
    upright = Image.open(path).convert("RGB")
    _store_on_its_side(upright, path, quality=100)
    assert Image.open(path).size == (SIZE[0], SIZE[1])  # stored W x H swapped: 48 wide, 64 high
    return root, path


def test_predict_by_path_and_the_dataset_loader_see_the_same_upright_pixels(rotated_photo_tree):
    root, path = rotated_photo_tree
    by_path = read_image(path)  # what `sak predict FILE` feeds the student
    assert by_path.shape == (*SIZE, 3)

    dataset = get_dataset_spec("pascal-context").create("train", False, root, SIZE, tasks=["semseg"])
    sample = dataset[dataset.ids.index("synth_000000")]
    box = sample["meta"]["valid_box"]
    through_ids = denormalise(crop_box(sample["image"], box))  # what `sak predict --ids` shows and feeds
    assert through_ids.shape == by_path.shape
    assert np.abs(through_ids.astype(int) - by_path.astype(int)).max() <= 1  # normalise -> denormalise rounding
    assert np.array_equal(np.rint(read_rgb(path)).astype(np.uint8), by_path)
    assert np.array_equal(to_pixels(Image.open(path)), by_path)  # a PIL image is read as its file


def test_a_label_png_is_turned_by_its_own_tag_only(tmp_path):
    labels = np.arange(6, dtype=np.uint8).reshape(2, 3)
    Image.fromarray(labels).save(tmp_path / "plain.png")
    _store_on_its_side(Image.fromarray(labels), tmp_path / "tagged.png")
    assert np.array_equal(read_png(tmp_path / "plain.png"), labels)
    assert np.array_equal(read_png(tmp_path / "tagged.png"), labels)  # stored 3 x 2, read upright 2 x 3


def test_a_label_drawn_on_the_stored_sideways_photo_names_the_rotation(rotated_photo_tree):
    root, path = rotated_photo_tree
    label = root / "semseg" / "pascal-context" / "synth_000000.png"
    stored = Image.open(label)
    stored.transpose(Image.Transpose.ROTATE_90).save(label)  # drawn on the pixels as stored, no tag
    dataset = get_dataset_spec("pascal-context").create("train", False, root, SIZE, tasks=["semseg"])
    with pytest.raises(CorruptFileError) as info:
        dataset[dataset.ids.index("synth_000000")]
    message = str(info.value)
    assert str(label) in message and str(path) in message and "EXIF orientation 6" in message

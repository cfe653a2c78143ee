"""The `images` dataset serves `val` from root/val/ when the folder has one, and never trains on it."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from sak_core.plugin.lookup import get_dataset_spec
from sak_core.datasets.errors import DataNotFoundError, SplitNotFoundError

SIZE = (32, 32)


def write_images(folder, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.fromarray(np.full((20, 24, 3), 90, dtype=np.uint8)).save(folder / name)


def ids(dataset) -> list[str]:
    return sorted(dataset[i]["meta"]["id"] for i in range(len(dataset)))


def test_val_is_served_from_the_val_folder_and_kept_out_of_training(tmp_path):
    write_images(tmp_path / "a", ["1.png", "2.png"])
    write_images(tmp_path / "val", ["3.png"])
    spec = get_dataset_spec("images")
    assert "val" in spec.splits
    val = spec.create("val", False, str(tmp_path), SIZE)
    assert ids(val) == [str(tmp_path / "val" / "3.png")]
    assert val[0]["image"].shape == (3, *SIZE)
    train = spec.create("train", True, str(tmp_path), SIZE)
    assert ids(train) == [str(tmp_path / "a" / "1.png"), str(tmp_path / "a" / "2.png")]


def test_a_train_folder_is_read_alone(tmp_path):
    write_images(tmp_path / "train", ["1.png"])
    write_images(tmp_path / "other", ["2.png"])
    write_images(tmp_path / "val", ["3.png"])
    train = get_dataset_spec("images").create("train", True, str(tmp_path), SIZE)
    assert ids(train) == [str(tmp_path / "train" / "1.png")]


def test_no_val_folder_is_a_missing_split_naming_the_folder(tmp_path):
    write_images(tmp_path / "a", ["1.png"])
    with pytest.raises(SplitNotFoundError) as info:
        get_dataset_spec("images").create("val", False, str(tmp_path), SIZE)
    assert isinstance(info.value, DataNotFoundError)
    assert f"{tmp_path / 'val'}/ does not exist" in str(info.value) and "has no split 'val'" in str(info.value)


def test_a_root_holding_only_val_images_has_no_training_images(tmp_path):
    write_images(tmp_path / "val", ["3.png"])
    with pytest.raises(DataNotFoundError, match="no images under"):
        get_dataset_spec("images").create("train", True, str(tmp_path), SIZE)

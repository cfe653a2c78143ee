"""Missing roots, splits and samples are clear errors; corrupt images follow the on_error policy."""

from __future__ import annotations

import io
import shutil
import tarfile

import numpy as np
import pytest
from PIL import Image

from sak_core.api import get_dataset_spec
from sak_core.datasets.errors import CorruptFileError, DatasetError, DataNotFoundError
from sak_core.errors import SakError
from tests.datasets.conftest import SIZE


@pytest.mark.parametrize("name", ["pascal-context", "nyud", "imagenet", "images"])
def test_no_root_names_the_env_var_and_layout(name):
    with pytest.raises(DataNotFoundError) as info:
        get_dataset_spec(name).create("train", True, None, SIZE)
    assert "SAK_DATA" in str(info.value) and "--data-root" in str(info.value)
    assert isinstance(info.value, SakError)


@pytest.mark.parametrize("name, marker", [("pascal-context", "JPEGImages"), ("nyud", "gt_sets"),
                                          ("synthetic", "scenes")])
def test_missing_root_names_path_and_layout(tmp_path, name, marker):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError) as info:
        get_dataset_spec(name).create("train", True, missing, SIZE)
    assert str(missing) in str(info.value) and marker in str(info.value)


@pytest.mark.parametrize("name, layout, split_file", [
    ("pascal-context", "pascal-context", "ImageSets/Context/train.txt"),
    ("nyud", "nyud", "gt_sets/train.txt"),
    ("synthetic", "native", "splits/train.txt"),
])
def test_missing_split_file(trees, tmp_path, name, layout, split_file):
    root = tmp_path / layout
    shutil.copytree(trees[layout], root)
    (root / split_file).unlink()
    with pytest.raises(DataNotFoundError, match="split file") as info:
        get_dataset_spec(name).create("train", True, root, SIZE)
    assert str(root / split_file) in str(info.value)


@pytest.mark.parametrize("name, layout, sample", [
    ("pascal-context", "pascal-context", "human_parts/{}.mat"),
    ("nyud", "nyud", "depth/{}.npy"),
    ("synthetic", "native", "scenes/{}.npz"),
])
def test_missing_sample_file(trees, tmp_path, name, layout, sample):
    root = tmp_path / layout
    shutil.copytree(trees[layout], root)
    missing = root / sample.format("synth_000001")
    missing.unlink()
    with pytest.raises(DataNotFoundError, match="sample file") as info:
        get_dataset_spec(name).create("train", True, root, SIZE)
    assert str(missing) in str(info.value) and "Expected layout" in str(info.value)


def _corrupt_first_image(trees, tmp_path, layout="nyud"):
    root = tmp_path / layout
    shutil.copytree(trees[layout], root)
    bad = root / "images" / "synth_000000.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return root, bad


def test_corrupt_image_error_policy_names_the_file(trees, tmp_path):
    root, bad = _corrupt_first_image(trees, tmp_path)
    ds = get_dataset_spec("nyud").create("train", True, root, SIZE)
    with pytest.raises(CorruptFileError, match=str(bad)):
        ds[0]
    assert ds[1]["meta"]["id"] == "synth_000001"


def test_corrupt_image_skip_policy_counts(trees, tmp_path, caplog):
    root, bad = _corrupt_first_image(trees, tmp_path)
    ds = get_dataset_spec("nyud").create("train", True, root, SIZE, on_error="skip")
    with caplog.at_level("WARNING", logger="sak.datasets"):
        samples = [ds[i] for i in range(len(ds))]
    assert samples[0]["meta"]["id"] == "synth_000001"  # the next readable sample stands in
    assert ds.skipped == 1 and str(bad) in caplog.text
    assert "skipped 1" in ds.errors.summary()


def test_unknown_policy_and_task(trees):
    with pytest.raises(DatasetError, match="on_error"):
        get_dataset_spec("nyud").create("train", True, trees["nyud"], SIZE, on_error="ignore")
    with pytest.raises(DatasetError, match="parts"):
        get_dataset_spec("nyud").create("train", True, trees["nyud"], SIZE, tasks=["parts"])


def _jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def test_image_folder_and_imagenet_tar(tmp_path):
    folder = tmp_path / "ImageNet"
    (folder / "train" / "n01").mkdir(parents=True)
    (folder / "train" / "n01" / "a.JPEG").write_bytes(_jpeg(0))
    (folder / "train" / "n01" / "b.JPEG").write_bytes(b"broken")
    with tarfile.open(folder / "val.tar", "w") as tar:
        for i in range(3):
            data = _jpeg(i) if i != 1 else b"broken"
            info = tarfile.TarInfo(f"val/n0{i}/img{i}.JPEG")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    size = (16, 16)
    ds = get_dataset_spec("imagenet").create("train", True, folder, size)
    assert set(ds[0]) == {"image", "meta"} and ds[0]["image"].shape == (3, 16, 16)
    with pytest.raises(CorruptFileError, match="b.JPEG"):
        ds[1]
    tar_ds = get_dataset_spec("imagenet").create("val", False, folder, size, on_error="skip")
    assert len(tar_ds) == 3
    ids = [tar_ds[i]["meta"]["id"] for i in range(3)]
    assert ids == ["val/n00/img0.JPEG", "val/n02/img2.JPEG", "val/n02/img2.JPEG"] and tar_ds.skipped == 1
    folder_ds = get_dataset_spec("images").create("train", False, folder / "train", size, on_error="skip")
    assert len(folder_ds) == 2 and folder_ds[1]["meta"]["id"].endswith("a.JPEG")
    with pytest.raises(DataNotFoundError, match="test.tar"):  # the loader's own check, below create()'s
        get_dataset_spec("imagenet").factory(folder, "test", True, size)

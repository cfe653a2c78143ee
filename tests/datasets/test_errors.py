"""Missing roots, splits and samples are clear errors; corrupt images follow the on_error policy."""

from __future__ import annotations

import io
import shutil
import tarfile

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from sak_core.plugin.lookup import get_dataset_spec
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


# each layout's train split file: (dataset, layout of the test tree, path in the tree)
SPLIT_FILES = [
    ("pascal-context", "pascal-context", "ImageSets/Context/train.txt"),
    ("nyud", "nyud", "gt_sets/train.txt"),
    ("synthetic", "native", "splits/train.txt"),
]


@pytest.mark.parametrize("name, layout, split_file", SPLIT_FILES)
def test_missing_split_file(trees, tmp_path, name, layout, split_file):
    root = _copy(trees, tmp_path, layout)
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
    root = _copy(trees, tmp_path, layout)
    missing = root / sample.format("synth_000001")
    missing.unlink()
    with pytest.raises(DataNotFoundError, match="sample file") as info:
        get_dataset_spec(name).create("train", True, root, SIZE)
    assert str(missing) in str(info.value) and "Expected layout" in str(info.value)


def _copy(trees, tmp_path, layout):
    """A private copy of the session tree of ``layout``, for a test to damage."""
    root = tmp_path / layout
    shutil.copytree(trees[layout], root)
    return root


def _corrupt_first_image(trees, tmp_path, layout="nyud"):
    root = _copy(trees, tmp_path, layout)
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


def test_skip_policy_counts_each_file_once(trees, tmp_path):
    root, _ = _corrupt_first_image(trees, tmp_path)
    (root / "images" / "synth_000001.png").write_bytes(b"not an image either")
    ds = get_dataset_spec("nyud").create("train", True, root, SIZE, on_error="skip")
    for _ in range(2):  # ds[0] skips both bad files, ds[1] the second again; a second epoch, all again
        assert [ds[i]["meta"]["id"] for i in range(2)] == ["synth_000002"] * 2
    assert ds.skipped == 2 and "skipped 2" in ds.errors.summary()
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)  # workers share the count
    assert len(list(loader)) == len(ds) and ds.skipped == 2


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


# -- malformed files: each error names the file and what it should hold ------------------------
def _dataset(name, root, split="train", **options):
    return get_dataset_spec(name).create(split, False, root, SIZE, **options)


def test_rgb_label_png_is_refused(trees, tmp_path):
    root = _copy(trees, tmp_path, "nyud")
    path = root / "segmentation" / "synth_000000.png"
    Image.open(path).convert("RGB").save(path)
    with pytest.raises(CorruptFileError, match="single-channel") as info:
        _dataset("nyud", root)[0]
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name, layout, label, stored, dtype", [
    ("pascal-context", "pascal-context", "semseg/pascal-context/{}.png", 50, np.uint8),  # 21 classes
    ("pascal-context", "pascal-context", "semseg/pascal-context/{}.png", 256 + 5, np.uint16),  # was read as 5
    ("nyud", "nyud", "segmentation/{}.png", 41, np.uint8),  # class 40 of 0..39
    ("nyud", "nyud", "segmentation/{}.png", 256 + 1, np.uint16),  # was read as ignore
])
def test_label_values_outside_the_classes_name_the_file(trees, tmp_path, name, layout, label, stored, dtype):
    root = _copy(trees, tmp_path, layout)
    path = root / label.format("synth_000000")
    labels = np.asarray(Image.open(path)).astype(dtype)
    labels[0, 0] = stored
    Image.fromarray(labels).save(path)
    with pytest.raises(CorruptFileError, match="num_outputs") as info:
        _dataset(name, root)[0]
    assert str(path) in str(info.value) and f"value(s) {stored}," in str(info.value)


def test_synthetic_class_ids_outside_the_classes_name_the_file(trees, tmp_path):
    root = _copy(trees, tmp_path, "native")
    path = root / "scenes" / "synth_000000.npz"
    with np.load(path) as data:
        arrays = dict(data)
    arrays["semseg"][0, 0] = 50
    np.savez(path, **arrays)
    with pytest.raises(CorruptFileError, match="num_outputs") as info:
        _dataset("synthetic", root)[0]
    assert str(path) in str(info.value)


@pytest.mark.parametrize("label_map, shown", [(np.zeros((24, 32), np.uint16), "(24, 32)"), ("abc", "<U3")])
def test_label_map_of_the_wrong_shape_or_type(trees, tmp_path, label_map, shown):
    root = _copy(trees, tmp_path, "pascal-context")
    path = root / "pascal-context" / "trainval" / "synth_000000.mat"
    scipy.io.savemat(path, {"LabelMap": label_map})
    with pytest.raises(CorruptFileError, match="LabelMap") as info:
        _dataset("pascal-context", root)[0]
    assert str(path) in str(info.value) and shown in str(info.value) and str(SIZE) in str(info.value)


@pytest.mark.parametrize("name, layout, file", [("pascal-context", "pascal-context", "json/context_classes.json"),
                                                ("synthetic", "native", "synthetic.json")])
def test_invalid_json_names_the_file(trees, tmp_path, name, layout, file):
    root = _copy(trees, tmp_path, layout)
    (root / file).write_text('{"wall": 1,')
    with pytest.raises(CorruptFileError, match="not valid JSON") as info:
        _dataset(name, root)
    assert str(root / file) in str(info.value)


def test_invalid_tar_index_cache_names_the_file(tmp_path):
    folder = tmp_path / "ImageNet"
    folder.mkdir()
    with tarfile.open(folder / "train.tar", "w") as tar:
        data = _jpeg(0)
        info = tarfile.TarInfo("train/n01/a.JPEG")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert len(get_dataset_spec("imagenet").create("train", True, folder, (16, 16))) == 1
    (cached,) = (tmp_path / "cache" / "tar-index").glob("*.json")
    cached.write_text("[[")
    with pytest.raises(CorruptFileError, match="delete it") as info:
        get_dataset_spec("imagenet").create("train", True, folder, (16, 16))
    assert str(cached) in str(info.value)


def test_depth_must_be_two_dimensional(trees, tmp_path):
    root = _copy(trees, tmp_path, "nyud")
    path = root / "depth" / "synth_000000.npy"
    depth = np.load(path)
    np.save(path, np.stack([depth] * 3, axis=-1))  # H x W x 3: only H, W were compared
    with pytest.raises(CorruptFileError, match="2-D") as info:
        _dataset("nyud", root)[0]
    assert str(path) in str(info.value) and "(48, 64, 3)" in str(info.value)


@pytest.mark.parametrize("name, layout, file", [("nyud", "nyud", "normals/{}.png"),
                                                ("pascal-context", "pascal-context", "normals_distill/{}.png")])
def test_normals_png_must_be_rgb(trees, tmp_path, name, layout, file):
    root = _copy(trees, tmp_path, layout)
    path = root / file.format("synth_000000")
    Image.open(path).convert("L").save(path)
    with pytest.raises(CorruptFileError, match="must be RGB") as info:
        _dataset(name, root)[0]
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name, layout, split_file", SPLIT_FILES)
def test_duplicate_ids_in_a_split_file(trees, tmp_path, name, layout, split_file):
    root = _copy(trees, tmp_path, layout)
    split = root / split_file
    split.write_text(split.read_text() + "synth_000001\nsynth_000000\n")
    with pytest.raises(DatasetError, match="more than once") as info:
        _dataset(name, root)
    assert str(split) in str(info.value) and "synth_000000, synth_000001" in str(info.value)


@pytest.mark.parametrize("dataset, typo, close", [("synthetic", "cout", "count"), ("nyud", "on_eror", "on_error"),
                                                   ("imagenet", "scal", "scale")])
def test_a_misspelt_dataset_option_is_refused_with_the_accepted_ones(dataset, typo, close):
    from sak_core.plugin.lookup import get_dataset_spec
    from sak_core.errors import SpecError

    spec = get_dataset_spec(dataset)
    with pytest.raises(SpecError, match=rf"dataset '{dataset}' got unknown option\(s\) {typo} \('{typo}': did you "
                                        rf"mean '{close}'\?\); it accepts: .*{close}"):
        spec.create("train", root="/nowhere", **{typo: 5})


@pytest.mark.parametrize("file, text, message", [
    ("json/context_classes.json", '["wall", "floor"]', "must map each Context class name to its integer LabelMap id"),
    ("json/context_classes.json", '{"wall": 1.5}', "must map each Context class name to its integer LabelMap id"),
    ("json/nyu_classes.json", '"wall"', "must hold the NYU class names"),
], ids=["context list", "context string id", "nyu string"])
def test_class_json_of_the_wrong_shape_names_the_file(trees, tmp_path, file, text, message):
    root = _copy(trees, tmp_path, "pascal-context")
    (root / file).write_text(text)
    with pytest.raises(CorruptFileError, match=message) as info:
        _dataset("pascal-context", root)
    assert str(root / file) in str(info.value)


GREY_MAPS = [("nyud", "nyud", "edge/{}.png", "boundaries"),
             ("pascal-context", "pascal-context", "sal_distill/{}.png", "saliency")]


@pytest.mark.parametrize("name, layout, file, task", GREY_MAPS)
def test_grey_maps_saved_as_rgb_read_as_the_grey_file(trees, tmp_path, name, layout, file, task):
    root = _copy(trees, tmp_path, layout)
    path = root / file.format("synth_000000")
    grey = np.asarray(Image.open(path))
    assert grey.ndim == 2 and len(np.unique(grey)) > 1  # the fixture's map is grey and not blank
    sample = _dataset(name, root)[0]
    assert sample["meta"]["id"] == "synth_000000"
    Image.fromarray(np.stack([grey] * 3 + [np.full_like(grey, 255)], axis=-1), "RGBA").save(path)
    assert torch.equal(_dataset(name, root)[0][task], sample[task])


@pytest.mark.parametrize("name, layout, file, task", GREY_MAPS)
@pytest.mark.parametrize("change, message", [
    (lambda grey: np.stack([grey, 255 - grey, grey], axis=-1), "colour image (mode RGB"),  # was read as its red
    # was divided by 255: almost all foreground (Pillow saves it as I;16, before 10.1 as 32-bit I)
    (lambda grey: grey.astype(np.uint16) * 257, "-bit image (mode I"),
])
def test_colour_or_16_bit_grey_maps_name_the_file(trees, tmp_path, name, layout, file, task, change, message):
    root = _copy(trees, tmp_path, layout)
    path = root / file.format("synth_000000")
    Image.fromarray(change(np.asarray(Image.open(path)))).save(path)
    with pytest.raises(CorruptFileError, match="save it in mode L") as info:
        _dataset(name, root)[0]
    assert str(path) in str(info.value) and message in str(info.value)


@pytest.mark.parametrize("content, says", [
    (b"1.0 2.0\n3.0 4.0\n", "is not a NumPy .npy file"),  # a text file named .npy: was "pickled data"
    (b"PK\x03\x04 a zip archive", "is not a NumPy .npy file"),
    (None, "holds Python objects"),  # an object array in a real .npy header: never unpickled
])
def test_a_depth_file_that_is_not_a_numeric_npy_says_what_it_is(trees, tmp_path, content, says):
    root = _copy(trees, tmp_path, "nyud")
    path = root / "depth" / "synth_000000.npy"
    if content is None:
        np.save(path, np.array([{"depth": 1}], dtype=object), allow_pickle=True)
    else:
        path.write_bytes(content)
    with pytest.raises(CorruptFileError, match=says) as info:
        _dataset("nyud", root)[0]
    assert str(path) in str(info.value) and "pickled" not in str(info.value)


@pytest.mark.parametrize("stored", ["1xHxW", "HxWx1"])
def test_depth_with_a_channel_axis_is_read_as_h_by_w(trees, tmp_path, stored):
    root = _copy(trees, tmp_path, "nyud")
    path = root / "depth" / "synth_000000.npy"
    depth = np.load(path)
    np.save(path, depth[None] if stored == "1xHxW" else depth[..., None])
    assert _dataset("nyud", root)[0]["depth"].shape[-2:] == SIZE

"""The real PASCAL-Context and NYUD-v2 loaders read synthesized trees; targets follow the contract."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sak_core.plugin.lookup import get_dataset_spec, list_datasets
from sak_core.datasets.edges import label_edges
from sak_core.datasets.synthetic.layouts import CONTEXT, NYU40_IDS, VOC_IDS, sample_id
from sak_core.datasets.synthetic.render import render_index
from sak_core.datasets.synthetic.scene import BALL, CLASSES
from sak_core.datasets.transforms import crop_to_valid
from tests.datasets.conftest import SEED, SIZE

INPUT = (56, 72)  # larger than the scenes: test samples are padded


def _check_targets(sample: dict, tasks: dict, size: tuple[int, int]) -> None:
    h, w = size
    assert sample["image"].dtype == torch.float32 and sample["image"].shape == (3, h, w)
    for task in tasks:
        target = sample[task]
        if task in ("semseg", "parts", "saliency"):
            assert target.dtype == torch.int64 and target.shape == (h, w)
            valid = target[target != 255]
            n = tasks[task].get("num_outputs", 2)
            assert valid.numel() == 0 or (valid.min() >= 0 and valid.max() < n)
        elif task == "normals":
            assert target.dtype == torch.float32 and target.shape == (3, h, w)
            ignored = (target == 255).all(0)
            assert ((target == 255).any(0) == ignored).all(), "ignore must hold in all three channels"
            norms = target[:, ~ignored].norm(dim=0)
            assert torch.allclose(norms, torch.ones_like(norms), atol=1e-3)
        elif task == "boundaries":
            assert target.dtype == torch.float32 and target.shape == (1, h, w)
            assert set(target.unique().tolist()) <= {0.0, 1.0, 255.0}
        elif task == "depth":
            assert target.dtype == torch.float32 and target.shape == (1, h, w)
            assert (target[target != 255] > 0).all()
    meta = sample["meta"]
    top, left, vh, vw = meta["valid_box"]
    assert meta["original_size"] == (vh, vw) and top + vh <= h and left + vw <= w
    for task in tasks:  # padding carries the ignore value
        t = sample[task]
        pad = torch.ones(t.shape[-2:], dtype=torch.bool)
        pad[top:top + vh, left:left + vw] = False
        if pad.any():
            assert (t[..., pad] == 255).all()


def test_builtins_are_registered_through_the_entry_point():
    assert {"pascal-context", "nyud", "imagenet", "images", "synthetic"} <= set(list_datasets())
    pascal, nyud = get_dataset_spec("pascal-context"), get_dataset_spec("nyud")
    assert pascal.tasks["semseg"]["num_outputs"] == 21 and pascal.tasks["parts"]["num_outputs"] == 7
    assert pascal.tasks["boundaries"]["max_dist"] == 0.0075 and pascal.input_size == (512, 512)
    assert nyud.tasks["semseg"]["num_outputs"] == 40 and nyud.tasks["boundaries"]["max_dist"] == 0.011
    assert nyud.input_size == (448, 576)
    assert get_dataset_spec("synthetic").tasks["semseg"]["num_outputs"] == len(CLASSES)


@pytest.mark.parametrize("name, layout", [("pascal-context", "pascal-context"), ("nyud", "nyud"),
                                          ("synthetic", "native")])
@pytest.mark.parametrize("train", [True, False])
def test_targets_follow_the_contract(trees, name, layout, train):
    spec = get_dataset_spec(name)
    torch.manual_seed(0)
    for split in ("train", "val"):
        ds = spec.create(split, train, trees[layout], INPUT)
        assert len(ds) > 0
        for i in range(len(ds)):
            sample = ds[i]
            assert set(spec.tasks) <= set(sample)
            _check_targets(sample, spec.tasks, INPUT)
            if not train:
                assert sample["meta"]["original_size"] == SIZE
                assert crop_to_valid(sample["semseg"], sample["meta"]).shape == SIZE


def test_pascal_targets_match_the_rendered_scene(trees):
    ds = get_dataset_spec("pascal-context").create("train", False, trees["pascal-context"], SIZE)
    saw_person = saw_no_person = False
    for i, sid in enumerate(ds.ids):
        r = render_index(SEED, int(sid.split("_")[1]), SIZE)
        s = ds[i]
        lut = np.array([VOC_IDS[k] for k in range(len(CLASSES))])
        assert np.array_equal(s["semseg"].numpy(), lut[r.semseg])
        assert np.array_equal(s["saliency"].numpy(), r.saliency)
        # boundaries are derived from the LabelMap (Context class ids) of the same geometry
        context = np.array([CONTEXT[k][1] for k in range(len(CLASSES))])
        assert np.array_equal(s["boundaries"][0].numpy(), label_edges(context[r.semseg]))
        if r.parts.any():
            saw_person = True
            assert np.array_equal(s["parts"].numpy(), r.parts)
        else:
            saw_no_person = True
            assert (s["parts"] == 255).all(), "images without people ignore parts"
        ball = r.semseg == BALL  # not an NYU class: normals masked out, as the reference does
        assert (s["normals"][:, torch.from_numpy(ball)] == 255).all()
        other = torch.from_numpy(~ball)
        assert torch.allclose(s["normals"][:, other], torch.from_numpy(r.normals).permute(2, 0, 1)[:, other], atol=0.02)
    assert saw_person and saw_no_person


def test_nyud_targets_match_the_rendered_scene(trees):
    ds = get_dataset_spec("nyud").create("val", False, trees["nyud"], SIZE)
    for i, sid in enumerate(ds.ids):
        r = render_index(SEED, int(sid.split("_")[1]), SIZE)
        s = ds[i]
        lut = np.array([NYU40_IDS[k] - 1 for k in range(len(CLASSES))])
        assert np.array_equal(s["semseg"].numpy(), lut[r.semseg])
        assert np.array_equal(s["depth"][0].numpy(), r.depth)
        assert np.array_equal(s["boundaries"][0].numpy(), r.boundaries)
        assert torch.allclose(s["normals"], torch.from_numpy(r.normals).permute(2, 0, 1), atol=0.02)


def test_nyud_ignore_handling(trees, tmp_path):
    import shutil

    from PIL import Image

    root = tmp_path / "NYUDv2"
    shutil.copytree(trees["nyud"], root)
    sid = (root / "gt_sets" / "val.txt").read_text().split()[0]
    depth = np.load(root / "depth" / f"{sid}.npy")
    depth[:5] = 0  # missing depth
    np.save(root / "depth" / f"{sid}.npy", depth)
    seg = np.asarray(Image.open(root / "segmentation" / f"{sid}.png")).copy()
    seg[:, :3] = 0  # unlabelled
    Image.fromarray(seg).save(root / "segmentation" / f"{sid}.png")
    s = get_dataset_spec("nyud").create("val", False, root, SIZE)[0]
    assert (s["depth"][0, :5] == 255).all() and (s["depth"][0, 5:] != 255).all()
    assert (s["semseg"][:, :3] == 255).all()


def test_sak_data_env_var_names_the_parent_folder(trees, tmp_path, monkeypatch):
    import shutil

    shutil.copytree(trees["nyud"], tmp_path / "NYUDv2")
    monkeypatch.setenv("SAK_DATA", str(tmp_path))
    ds = get_dataset_spec("nyud").create("train", True, None, SIZE)
    assert ds.ids[0] == sample_id(0)


def test_task_subset_and_boundaries_from_label_map(trees):
    ds = get_dataset_spec("pascal-context").create("train", False, trees["pascal-context"], SIZE,
                                                    tasks=["boundaries"])
    s = ds[0]
    assert "semseg" not in s and "boundaries" in s
    labels = np.zeros((9, 9), dtype=np.uint16)
    labels[:, 5:] = 3
    edges = label_edges(labels)
    assert edges.any() and not edges[:, :3].any() and not edges[:, 7:].any()

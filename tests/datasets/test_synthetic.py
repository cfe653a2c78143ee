"""The synthetic scene generator: determinism, geometric consistency, the cache and `sak data synth`."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from sak_core.plugin.lookup import get_dataset_spec
from sak_core.cli.main import main
from sak_core.datasets.synthetic import layouts
from sak_core.datasets.synthetic.layouts import write_layout
from sak_core.datasets.synthetic.render import ROOM_PLANES, render_index
from sak_core.datasets.synthetic.scene import CLASSES, PART_GROUPS, PERSON, SALIENT_CLASSES


def _digest(root) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", ["native", "pascal-context", "nyud"])
def test_same_seed_same_bytes(tmp_path, trees, layout):
    again = write_layout(tmp_path / layout, layout, 6, (48, 64), seed=7, val_fraction=0.34)
    assert _digest(again) == _digest(trees[layout])


def test_different_seed_different_scenes():
    a, b = render_index(0, 0, (32, 32)), render_index(1, 0, (32, 32))
    assert not np.array_equal(a.image, b.image)
    assert np.array_equal(render_index(0, 3, (32, 32)).image, render_index(0, 3, (32, 32)).image)


@pytest.fixture(scope="module")
def renderings():
    return [render_index(11, i, (64, 80)) for i in range(6)]


def test_targets_are_consistent(renderings):
    for r in renderings:
        assert r.image.dtype == np.uint8 and r.image.shape == (64, 80, 3)
        assert set(np.unique(r.semseg)) <= set(range(len(CLASSES)))
        assert set(np.unique(r.parts)) <= set(range(len(PART_GROUPS)))
        assert np.array_equal(r.saliency, np.isin(r.semseg, SALIENT_CLASSES))
        assert np.array_equal(r.parts > 0, r.semseg == PERSON), "parts exactly cover the people"
        assert (r.depth > 0).all() and np.isfinite(r.depth).all()
    assert any(r.parts.any() for r in renderings) and any(not r.parts.any() for r in renderings)
    assert len({int(v) for r in renderings for v in np.unique(r.semseg)}) == len(CLASSES)


def test_normals_are_unit_and_face_the_camera(renderings):
    for r in renderings:
        np.testing.assert_allclose(np.linalg.norm(r.normals, axis=-1), 1.0, atol=1e-5)
        fx, fy, cx, cy = r.intrinsics
        h, w = r.depth.shape
        rays = np.stack(np.broadcast_arrays((np.arange(w) + 0.5 - cx)[None] / fx,
                                            -(np.arange(h) + 0.5 - cy)[:, None] / fy, -np.ones((1, 1))), -1)
        assert (np.einsum("hwc,hwc->hw", r.normals, rays) < 1e-6).all()


def test_normals_agree_with_depth_gradients(renderings):
    """Back-projected neighbours on the same smooth surface are perpendicular to the normal."""
    cosines = []
    for r in renderings:
        fx, fy, cx, cy = r.intrinsics
        h, w = r.depth.shape
        u = (np.arange(w) + 0.5 - cx)[None] / fx
        v = -(np.arange(h) + 0.5 - cy)[:, None] / fy
        points = np.stack(np.broadcast_arrays(u * r.depth, v * r.depth, -r.depth), -1)  # camera coordinates
        for du, dv in ((1, 0), (0, 1)):
            a, b = points[: h - dv, : w - du], points[dv:, du:]
            same = r.hit[: h - dv, : w - du] == r.hit[dv:, du:]
            flat = same & (r.hit[: h - dv, : w - du] < ROOM_PLANES)  # planes: exact
            step = b - a
            step /= np.linalg.norm(step, axis=-1, keepdims=True)
            cos = np.abs(np.einsum("hwc,hwc->hw", step, r.normals[: h - dv, : w - du]))
            assert cos[flat].max() < 1e-3
            cosines.append(cos[same])
    cosines = np.concatenate(cosines)
    assert np.median(cosines) < 0.01 and np.mean(cosines < 0.2) > 0.97  # curved surfaces: first-order


def test_boundaries_lie_on_semantic_label_changes(renderings):
    for r in renderings:
        s = np.pad(r.semseg, 1, mode="edge")
        centre = s[1:-1, 1:-1]
        changes = ((s[:-2, 1:-1] != centre) | (s[2:, 1:-1] != centre)
                   | (s[1:-1, :-2] != centre) | (s[1:-1, 2:] != centre))
        assert r.boundaries.any()
        assert (changes[r.boundaries > 0]).all()
        # and every label change is near a boundary pixel
        near = np.zeros_like(changes)
        b = np.pad(r.boundaries > 0, 1)
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                near |= b[dy:dy + r.semseg.shape[0], dx:dx + r.semseg.shape[1]]
        assert near[changes].mean() > 0.95


def test_cache_is_generated_once_and_reused(tmp_path, monkeypatch):
    spec = get_dataset_spec("synthetic")
    ds = spec.create("train", True, None, (32, 32), count=5)
    assert ds.root.parent.parent == tmp_path / "cache" and len(ds) == 4
    assert ds[0]["image"].shape == (3, 32, 32)

    def fail(*args, **kwargs):
        raise AssertionError("the cache must be reused")

    monkeypatch.setattr(layouts, "write_layout", fail)
    again = spec.create("val", False, None, (32, 32), count=5)
    assert again.root == ds.root and len(again) == 1
    assert not [p for p in ds.root.parent.iterdir() if p.name.startswith(".")], "no temporary folder left"


def test_interrupted_generation_is_not_used(tmp_path, monkeypatch):
    def crash(root, *args, **kwargs):
        (root / "splits").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(layouts, "write_layout", crash)
    with pytest.raises(KeyboardInterrupt):
        get_dataset_spec("synthetic").create("train", True, None, (32, 32), count=5)
    folder = tmp_path / "cache" / "synthetic"
    assert list(folder.iterdir()) == [], "neither a final nor a temporary folder remains"


def test_cli_synth(tmp_path, capsys):
    out = tmp_path / "nyud"
    assert main(["data", "synth", "--layout", "nyud", "--out", str(out), "-n", "3", "--size", "24x32",
                 "--seed", "2"]) == 0
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"synth_00000{i}.png" for i in range(3)]
    ds = get_dataset_spec("nyud").create("val", False, out, (24, 32))
    assert len(ds) == 1 and ds[0]["depth"].shape == (1, 24, 32)
    assert main(["data", "synth", "--layout", "nyud", "--out", str(out), "-n", "1"]) == 1

"""One durable writer (sak_core.runtime.files) behind every atomic write: the task helpers'
write_png / write_npy, the images dataset's tar index and the synthetic dataset's folder."""

from __future__ import annotations

import errno
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from sak_core.plugin import write_npy, write_png
from sak_core.plugin.task_helpers import write_atomic
from sak_core.runtime.files import current_umask, staged_folder


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_png_and_npy_round_trip_with_the_umask_permissions(tmp_path):
    labels = np.arange(12, dtype=np.uint8).reshape(3, 4)
    png = write_png(labels, tmp_path / "deep" / "a.png")
    npy = write_npy(labels.astype(np.float32) / 7, tmp_path / "a.npy")
    assert np.array_equal(np.asarray(Image.open(png)), labels)
    assert np.array_equal(np.load(npy), labels.astype(np.float32) / 7)
    assert _mode(png) == _mode(npy) == 0o666 & ~current_umask()  # mkstemp alone gave 0600
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a.npy", "a.png", "deep"]  # no temporary file


def test_a_failed_write_keeps_the_previous_file_and_names_the_target(tmp_path):
    target = write_npy(np.zeros(3), tmp_path / "a.npy")
    before = target.read_bytes()

    def refused(handle):
        handle.write(b"half")
        raise OSError(errno.EFBIG, "File too large")

    with pytest.raises(OSError) as info:
        write_atomic(target, refused)
    assert info.value.filename == str(target)
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["a.npy"]


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.sampled_from([np.uint8, np.uint16]))
def test_write_png_keeps_every_value(tmp_path_factory, h, w, dtype):
    array = np.random.default_rng(h * 7 + w).integers(0, np.iinfo(dtype).max, (h, w), dtype=dtype)
    path = write_png(array, tmp_path_factory.mktemp("png") / "x.png")
    assert np.array_equal(np.asarray(Image.open(path)), array)


def test_staged_folder_appears_whole_or_not_at_all(tmp_path):
    out = tmp_path / "data"
    with pytest.raises(RuntimeError):
        with staged_folder(out) as tmp:
            (tmp / "one.txt").write_text("1")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []  # no half folder, no temporary one
    with staged_folder(out) as tmp:
        (tmp / "sub").mkdir()
        (tmp / "sub" / "one.txt").write_text("1")
        assert not out.exists()
    assert (out / "sub" / "one.txt").read_text() == "1" and [p.name for p in tmp_path.iterdir()] == ["data"]
    assert _mode(out) == 0o777 & ~current_umask()  # mkdtemp alone gave 0700


def test_staged_folder_never_replaces_a_folder_with_files(tmp_path):
    out = tmp_path / "data"
    out.mkdir()
    (out / "kept.txt").write_text("kept")
    with pytest.raises(OSError):
        with staged_folder(out) as tmp:
            (tmp / "new.txt").write_text("new")
    assert [p.name for p in out.iterdir()] == ["kept.txt"] and [p.name for p in tmp_path.iterdir()] == ["data"]


def test_the_tar_index_is_written_by_the_durable_writer(tmp_path, monkeypatch):
    from sak_core.datasets import images

    monkeypatch.setenv("SAK_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "src"
    folder.mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / "a.png")
    archive = tmp_path / "photos.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(folder / "a.png", arcname="a.png")
    written = []
    real = images.atomic_write_text
    monkeypatch.setattr(images, "atomic_write_text", lambda path, text: written.append(path) or real(path, text))
    reader = images._TarIndex(archive)
    assert reader.names == ["a.png"] and len(written) == 1 and written[0].is_file()
    assert not [p for p in written[0].parent.iterdir() if p.name.startswith(".")]

"""The output guard (io.check_output) of every command that writes: an existing target is refused
unless --overwrite, a file the command reads never, even with --overwrite; the parent must be a
folder; the files refused are left byte-identical."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sak_test_utils import digest, one_error, write_tiny_run

from sak_core.cli.main import main
from sak_core.errors import SakError
from sak_core.runtime.files import check_output

SAK = [sys.executable, "-m", "sak_core"]


@pytest.fixture
def run(tmp_path) -> Path:
    """A run folder of a tiny student: model.safetensors and config.yaml."""
    return write_tiny_run(tmp_path / "run", {"semseg": 3})


# ---------------------------------------------------------------- the guard itself

def test_guard_refuses_existing_files_folders_and_files_in_the_way(tmp_path):
    a_file = tmp_path / "photo.png"
    a_file.write_bytes(b"png")
    with pytest.raises(SakError, match=r"photo.png exists; choose another --out or pass --overwrite"):
        check_output(a_file)
    assert check_output(a_file, overwrite=True) == a_file
    with pytest.raises(SakError, match=r"which this command reads; it is never written over, even with --overwrite"):
        check_output(tmp_path / "." / "photo.png", reads=[a_file], overwrite=True)
    with pytest.raises(SakError, match=r"--out .*photo.png/x.onnx: .*photo.png is a file, not a folder"):
        check_output(a_file / "x.onnx")
    with pytest.raises(SakError, match=r"is a folder; give the path of a file"):
        check_output(tmp_path, overwrite=True)
    with pytest.raises(SakError, match=r"--dir .*photo.png is a file, not a folder"):
        check_output(a_file, "--dir", folder=True)
    assert check_output(tmp_path, folder=True) == tmp_path
    assert check_output(tmp_path / "new" / "x.onnx") == tmp_path / "new" / "x.onnx"


# ---------------------------------------------------------------- sak export (issue 21, case 1)

pytest_export = pytest.mark.skipif(
    not all(__import__("importlib").util.find_spec(m) for m in ("onnxscript", "onnx")), reason="needs sak-core[onnx]")


@pytest.mark.parametrize("target", ["model.safetensors", "config.yaml"])
def test_export_never_writes_over_the_run_it_reads(run, capsys, target):
    before = digest(run)
    assert main(["export", str(run), "--out", str(run / target), "--overwrite", "--no-check"]) == 1
    line = one_error(capsys.readouterr().err)
    assert f"--out {run / target} is {run / target}, which this command reads" in line
    assert digest(run) == before


def test_export_refuses_an_unrelated_file_unless_overwrite(run, tmp_path, capsys):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG not really")
    before = digest(tmp_path)
    assert main(["export", str(run), "--out", str(photo), "--no-check"]) == 1
    assert f"{photo} exists; choose another --out or pass --overwrite" in one_error(capsys.readouterr().err)
    assert digest(tmp_path) == before


@pytest_export
def test_export_overwrite_replaces_the_file(run, tmp_path, capsys):
    out = tmp_path / "student.onnx"
    out.write_bytes(b"old")
    assert main(["export", str(run), "--out", str(out), "--overwrite", "--no-check"]) == 0
    assert out.read_bytes()[:4] != b"old" and out.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_export_under_a_file_or_onto_a_folder_is_one_line(run, tmp_path, capsys):
    assert main(["export", str(run), "--out", str(run / "model.safetensors" / "x.onnx"), "--no-check"]) == 1
    assert "model.safetensors is a file, not a folder" in one_error(capsys.readouterr().err)
    assert main(["export", str(run), "--out", str(tmp_path), "--no-check"]) == 1
    assert "is a folder; give the path of a file" in one_error(capsys.readouterr().err)


def test_an_absurd_size_is_refused_up_front(run, tmp_path):
    for command in (["export", str(run), "--out", str(tmp_path / "x.onnx")], ["data", "synth", "--out", "syn"]):
        done = subprocess.run([*SAK, *command, "--size", "100000x100000"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 2
        assert "size 100000x100000 is too large: each side must be at most 8192" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]

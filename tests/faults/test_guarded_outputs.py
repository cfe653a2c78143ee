"""The output guard (io.check_output) in `sak predict --out`, `sak analyze routers --out` and
`sak new --dir`: an existing file is replaced only with --overwrite, an input is never written
over, a file where a folder is asked is one line; what is refused is left byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sak_test_utils import digest, one_error, write_tiny_run

from sak_core.cli.main import main

RUNTIME = ["--device", "cpu", "--precision", "fp32"]


@pytest.fixture
def run(tmp_path) -> Path:
    """A run folder of a tiny synthetic-dataset student (semseg, depth): model and config.yaml."""
    return write_tiny_run(tmp_path / "run", {"semseg": 6, "depth": 1})


def photo(path: Path, h: int = 20, w: int = 30, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
    return path


# ---------------------------------------------------------------- sak predict --out

def test_predict_refuses_existing_predictions_unless_overwrite(run, tmp_path, capsys):
    image = photo(tmp_path / "in" / "a.png")
    out = tmp_path / "out"
    assert main(["predict", str(run), str(image), "--out", str(out), *RUNTIME]) == 0
    assert sorted(digest(out)) == ["depth/a.npy", "grid/a.png", "semseg/a.png"]
    (out / "depth" / "a.npy").write_bytes(b"mine")
    (out / "semseg" / "a.png").unlink()
    (out / "grid" / "a.png").unlink()
    before = digest(tmp_path)
    capsys.readouterr()
    assert main(["predict", str(run), str(image), "--out", str(out), *RUNTIME]) == 1
    line = one_error(capsys.readouterr().err)
    assert f"{out / 'depth' / 'a.npy'} exists; choose another --out or pass --overwrite" in line
    assert digest(tmp_path) == before  # nothing written, not even the predictions that were free
    assert main(["predict", str(run), str(image), "--out", str(out), "--overwrite", *RUNTIME]) == 0
    assert (out / "depth" / "a.npy").read_bytes() != b"mine"
    assert np.load(out / "depth" / "a.npy").shape == (20, 30)


@pytest.mark.parametrize("where", ["semseg/a.png", "grid/a.png"])
def test_predict_never_writes_over_an_input_image_in_the_output_folder(run, tmp_path, capsys, where):
    out = tmp_path / "out"
    image = photo(out / where)
    before = digest(tmp_path)
    assert main(["predict", str(run), str(image), "--out", str(out), "--overwrite", *RUNTIME]) == 1
    line = one_error(capsys.readouterr().err)
    assert f"{image}, which this command reads; it is never written over, even with --overwrite" in line
    assert digest(tmp_path) == before


def test_predict_of_a_folder_checks_every_file(run, tmp_path, capsys):
    images = tmp_path / "in"
    for i, name in enumerate(("a.png", "b.jpg", "c.png")):
        photo(images / name, seed=i)
    out = tmp_path / "out"
    (out / "semseg" / "b.png").parent.mkdir(parents=True)
    (out / "semseg" / "b.png").write_bytes(b"old")
    before = digest(tmp_path)
    assert main(["predict", str(run), str(images), "--out", str(out), *RUNTIME]) == 1
    assert f"{out / 'semseg' / 'b.png'} exists" in one_error(capsys.readouterr().err)
    assert digest(tmp_path) == before
    assert main(["predict", str(run), str(images), "--out", str(out), "--no-grid", "--overwrite", *RUNTIME]) == 0
    assert sorted(digest(out)) == [f"{t}/{n}" for t in ("depth", "semseg") for n in
                                   (("a.npy", "b.npy", "c.npy") if t == "depth" else ("a.png", "b.png", "c.png"))]


@pytest.mark.parametrize("out", ["file", "file/sub"])
def test_predict_into_a_file_is_one_line(run, tmp_path, capsys, out):
    (tmp_path / "file").write_text("notes")
    image = photo(tmp_path / "a.png")
    before = digest(tmp_path)
    assert main(["predict", str(run), str(image), "--out", str(tmp_path / out), *RUNTIME]) == 1
    assert f"{tmp_path / 'file'} is a file, not a folder" in one_error(capsys.readouterr().err)
    assert digest(tmp_path) == before


# ---------------------------------------------------------------- sak analyze routers --out

@pytest.fixture
def synth_root(tmp_path) -> Path:
    root = tmp_path / "synth"
    assert main(["data", "synth", "--out", str(root), "-n", "3", "--size", "32x32", "--val-fraction", "0.5"]) == 0
    return root


def test_analyze_routers_guards_its_out(run, synth_root, tmp_path, capsys):
    common = ["analyze", "routers", str(run), "--data-root", str(synth_root), "--limit", "2", *RUNTIME]
    png = tmp_path / "fig" / "routers.png"
    png.parent.mkdir()
    png.with_suffix(".json").write_text("{}")
    before = digest(tmp_path)
    capsys.readouterr()
    assert main([*common, "--out", str(png)]) == 1
    assert f"{png.with_suffix('.json')} exists; choose another --out or pass --overwrite" in one_error(
        capsys.readouterr().err)
    assert digest(tmp_path) == before
    assert main([*common, "--out", str(png), "--overwrite"]) == 0
    assert "weights" in png.with_suffix(".json").read_text() and png.stat().st_size > 100

    plugins = [{"kind": "task", "name": n, "distribution": f"sak-task-{n}", "version": "0.1.0"}
               for n in ("semseg", "depth")]
    (run / "plugins.json").write_text(json.dumps(plugins))  # the numbers of --out RUN/plugins.png go there
    before = digest(run)
    capsys.readouterr()
    assert main([*common, "--out", str(run / "plugins.png"), "--overwrite"]) == 1
    assert f"{run / 'plugins.json'}, which this command reads" in one_error(capsys.readouterr().err)
    assert digest(run) == before


def test_analyze_routers_default_goes_beside_the_run_and_is_replaced(run, synth_root, capsys):
    common = ["analyze", "routers", str(run), "--data-root", str(synth_root), "--limit", "2", *RUNTIME]
    assert main(common) == 0
    first = sorted(digest(run / "eval"))
    assert first == ["model/routers.json", "model/routers.png"]  # saved without a step: named by its folder
    assert main(common) == 0  # sak's own place: written again without --overwrite
    assert sorted(digest(run / "eval")) == first


# ---------------------------------------------------------------- sak new --dir

@pytest.mark.parametrize("where", ["notes", "notes/sub"])
def test_new_into_a_file_is_one_line(tmp_path, capsys, where):
    (tmp_path / "notes").write_text("mine")
    assert main(["new", "task", "fine", "--dir", str(tmp_path / where)]) == 1
    line = one_error(capsys.readouterr().err)
    assert f"--dir {tmp_path / where}" in line and f"{tmp_path / 'notes'} is a file, not a folder" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes"] and (tmp_path / "notes").read_text() == "mine"

"""`sak data synth` writes only into a new or empty folder, never over a dataset, and an
interrupted render leaves nothing behind."""

from __future__ import annotations

import pytest

from sak_core.cli.main import main

SMALL = ["-n", "2", "--size", "16x16"]


def test_an_existing_dataset_is_refused_and_left_as_it_was(tmp_path, capsys):
    out = tmp_path / "NYUDv2"
    (out / "gt_sets").mkdir(parents=True)
    (out / "gt_sets" / "train.txt").write_text("real_0001\n")
    assert main(["data", "synth", "--layout", "nyud", "--out", str(out), *SMALL]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert f"--out {out} is a folder that is not empty" in err and "choose another --out" in err
    assert (out / "gt_sets" / "train.txt").read_text() == "real_0001\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["NYUDv2"]  # no temporary folder left


def test_a_file_at_out_is_refused(tmp_path, capsys):
    out = tmp_path / "notes.txt"
    out.write_text("keep me")
    assert main(["data", "synth", "--out", str(out), *SMALL]) == 1
    assert "is a file" in capsys.readouterr().err and out.read_text() == "keep me"


def test_an_empty_folder_is_filled(tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    assert main(["data", "synth", "--out", str(out), *SMALL]) == 0
    assert (out / "synthetic.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]


def test_an_interrupted_render_leaves_no_half_dataset(tmp_path, monkeypatch):
    from sak_core.datasets.synthetic import layouts

    real = layouts.write_layout

    def interrupted(out, *args, **kwargs):
        real(out, *args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(layouts, "write_layout", interrupted)
    assert main(["data", "synth", "--out", str(tmp_path / "ds"), *SMALL]) != 0  # "error: interrupted"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fraction", ["0", "1", "1.5", "-0.2", "half"])
def test_val_fraction_must_leave_scenes_in_both_splits(tmp_path, capsys, fraction):
    with pytest.raises(SystemExit) as exit_:
        main(["data", "synth", "--out", str(tmp_path / "ds"), "--val-fraction", fraction, *SMALL])
    assert exit_.value.code == 2
    assert f"'{fraction}' is not a fraction strictly between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()

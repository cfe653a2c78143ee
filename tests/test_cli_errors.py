"""Every error a user can cause ends as one `error:` line (plus a hint), never a traceback;
SAK_DEBUG=1 shows the traceback. Run in-process through `sak_core.cli.main.main`."""

from __future__ import annotations

import dataclasses
import types

import pytest
import yaml

from sak_core import hookimpl
from sak_core.cli.main import main
from sak_core.config import deep_merge
from sak_core.plugin.registry import temporary_plugin
from sak_test_utils import TOY_RUN


@pytest.fixture
def toy_yaml(tmp_path, toy_plugins):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(TOY_RUN))
    return str(path)


def _sak(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["data.input_size=[60,64]"], "data.input_size: Value error, input_size (60, 64) must be positive multiples of 16"),
        (["--device", "cdua"], "unknown device 'cdua'"),
        (["model.stem_pretrained=/nope/stem.safetensors"], "model.stem_pretrained: /nope/stem.safetensors does not exist"),
        (["model.stem=vit_nope"], "unknown stem 'vit_nope'"),
        (["model.aligners=false"], "teacher 'toy_a' is 64 wide but the stem is 32: set aligners: true"),
        (["optim.precision=fp16", "--device", "cpu"], "fp16 needs a CUDA GPU"),
        (["--tasks", ""], "the task list is empty"),
    ],
    ids=["input-size", "device", "stem-file", "stem-name", "width", "fp16-cpu", "no-tasks"],
)
def test_bad_settings_are_one_sentence(toy_yaml, tmp_path, capsys, args, expected):
    code, _, err = _sak(capsys, "train", "--config", toy_yaml, "--out", str(tmp_path / "run"), *args)
    assert code == 1
    assert expected in _one_error_line(err)
    assert not (tmp_path / "run").exists()  # a run that never began leaves no folder behind


def test_overrides_may_come_among_the_flags(toy_yaml, tmp_path, capsys):
    code, out, err = _sak(capsys, "train", "--config", toy_yaml, "optim.lr=0.001", "--iterations", "2",
                          "optim.seed=3", "--optim.weight_decay", "0.25", "--print-config", "data.batch_size=4")
    assert code == 0, err
    optim = yaml.safe_load(out)["optim"]
    assert (optim["lr"], optim["iterations"], optim["seed"], optim["weight_decay"]) == (0.001, 2, 3, 0.25)
    assert yaml.safe_load(out)["data"]["batch_size"] == 4
    with pytest.raises(SystemExit):  # a flag no command has is still refused by argparse
        main(["train", "--config", toy_yaml, "--iterations", "2", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # overrides only where a command takes them
        main(["plugins", "optim.lr=3"])


def _exploding_dataset():
    from sak_toy_plugin import TOY_DATASET

    def factory(*args, **kwargs):
        raise ZeroDivisionError("boom in a plugin")

    plugin = types.ModuleType("sak_exploding_plugin")
    plugin.sak_register_datasets = hookimpl(
        lambda register: register(dataclasses.replace(TOY_DATASET, name="exploding", factory=factory))
    )
    return plugin


def test_an_unexpected_exception_is_one_line_and_a_hint_and_sak_debug_shows_it(toy_yaml, tmp_path, capsys,
                                                                                monkeypatch):
    args = ["train", "--config", toy_yaml, "--dataset", "exploding", "--out", str(tmp_path / "run")]
    with temporary_plugin(_exploding_dataset()):
        code, _, err = _sak(capsys, *args)
        assert code == 1
        lines = err.strip().splitlines()
        assert lines[0] == "error: ZeroDivisionError: boom in a plugin" and "SAK_DEBUG=1" in lines[1]
        assert len(lines) == 2 and "Traceback" not in err
        monkeypatch.setenv("SAK_DEBUG", "1")
        with pytest.raises(ZeroDivisionError):
            main(args)


def test_relative_paths_are_recorded_absolute_so_the_run_means_the_same_files_from_anywhere(tmp_path, monkeypatch):
    """A run trained with `--data-root data` and evaluated from another folder must not read
    that folder's `data`: config.yaml holds absolute paths."""
    import argparse

    from sak_core.cli.train import resolve_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.pth").write_bytes(b"")
    args = argparse.Namespace(
        resume=None, preset="demo", config=None, teachers=None, teacher_weights=["dinov2=w.pth"], tasks=None,
        stage=None, dataset=None, data_root="data", iterations=None, precision=None, init="runs/stage1",
        strict=False, out="run", overrides=["model.stem_pretrained=stem.safetensors"], print_config=True,
    )
    config, _, _ = resolve_config(args)
    assert config.data.root == str(tmp_path / "data")
    assert config.init == str(tmp_path / "runs" / "stage1")
    assert [t.weights for t in config.teachers if t.name == "dinov2"] == [str(tmp_path / "w.pth")]
    assert [t.weights for t in config.teachers if t.name != "dinov2"] == ["random", "random"]  # the demo's
    assert config.model.stem_pretrained == str(tmp_path / "stem.safetensors")


@pytest.mark.parametrize("args, text", [
    (["eval", "RUN", "--batch-size", "0"], "'0' is not an integer of 1 or more"),
    (["eval", "RUN", "--workers", "-1"], "'-1' is not an integer of 0 or more"),
    (["eval", "RUN", "--limit", "0"], "'0' is not an integer of 1 or more"),
    (["predict", "RUN", "--out", "x", "--limit", "-1"], "'-1' is not an integer of 1 or more"),
    (["analyze", "routers", "RUN", "--limit", "0"], "'0' is not an integer of 1 or more"),
    (["train", "--iterations", "0"], "'0' is not an integer of 1 or more"),
    (["data", "synth", "--out", "x", "--workers", "two"], "'two' is not an integer of 1 or more"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_counts_that_cannot_be_are_refused_by_the_parser(capsys, args, text):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 2
    assert text in capsys.readouterr().err


def test_an_invalid_setting_names_where_the_settings_came_from(toy_yaml, tmp_path, capsys):
    code, _, err = _sak(capsys, "train", "--config", toy_yaml, "--out", str(tmp_path / "run"), "optim.lr=-1")
    assert code == 1
    line = _one_error_line(err)
    assert f"invalid config {toy_yaml} + the command line: optim.lr: Input should be greater than 0" in line

"""Truncated and zero-filled copies of every file a run directory holds: `sak train --resume` and
`sak predict` either work or stop with one `error:` line naming the file; never a traceback or
an 'unexpected error' (a bug). A trainer state holding a pickled object is refused without
pointing at torch's unsafe option."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import sak_toy_plugin
from sak_core.cli.main import main
from sak_core.config import build_config, deep_merge
from sak_core.plugin.registry import temporary_plugin
from sak_core.training.loop import Trainer
from sak_test_utils import TOY_RUN

FILES = ["config.yaml", "plugins.json", "metrics.jsonl", "writer.lock", "model.safetensors",
         "best/model.safetensors", "best/score.json", "checkpoints/last/model.safetensors",
         "checkpoints/last/trainer.pt"]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished toy run (3 steps, checkpoint, best, final model) and an image to predict."""
    root = tmp_path_factory.mktemp("finished")
    with temporary_plugin(sak_toy_plugin, distribution="sak-toy-plugin"):
        config = build_config(deep_merge(TOY_RUN, {"optim": {"iterations": 3}, "output": {"val_every": 3}}))
        Trainer(config, root / "run", device="cpu").run()
    Image.fromarray(np.full((20, 24, 3), 90, np.uint8)).save(root / "image.png")
    assert sorted(str(p.relative_to(root / "run")) for p in (root / "run").rglob("*") if p.is_file()) == sorted(FILES)
    return root


def _damage(path: Path, how: str) -> None:
    size = path.stat().st_size
    if how == "zero-filled":
        path.write_bytes(b"\0" * size)
    else:  # truncated to a given fraction of the file
        path.write_bytes(path.read_bytes()[: int(size * float(how.split()[1]))])


def _outcome(capsys, argv: list[str], damaged: str) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    if code != 0:
        first = err.strip().splitlines()[0]
        assert first.startswith("error: ") and "Traceback" not in err, err
        assert "SAK_DEBUG" not in err, f"{damaged}: an unexpected exception, not a sentence: {err}"
        assert Path(damaged).name in first or Path(damaged).parent.name in first, f"{damaged} not named: {first}"
        assert "will likely succeed" not in err and "trusted source" not in err, f"torch's unsafe advice: {err}"
    return code, err


def _check(finished_run, tmp_path, capsys, name: str, how: str) -> None:
    runs = {}
    for command in ("train", "predict"):  # a copy each: resuming rewrites some files
        runs[command] = tmp_path / command
        shutil.copytree(finished_run / "run", runs[command])
        _damage(runs[command] / name, how)
    with temporary_plugin(sak_toy_plugin, distribution="sak-toy-plugin"):
        _outcome(capsys, ["train", "--resume", str(runs["train"]), "--iterations", "3", "--device", "cpu"], name)
        _outcome(capsys, ["predict", str(runs["predict"]), str(finished_run / "image.png"), "--out",
                          str(tmp_path / "pred"), "--no-grid", "--device", "cpu"], name)


@pytest.mark.parametrize("how", ["truncated 0.5", "zero-filled"])
@pytest.mark.parametrize("name", FILES)
def test_a_damaged_run_file_is_named_or_harmless(finished_run, tmp_path, capsys, name, how):
    _check(finished_run, tmp_path, capsys, name, how)


@pytest.mark.slow
@pytest.mark.parametrize("how", ["truncated 0", "truncated 0.01", "truncated 0.9", "truncated 0.999"])
@pytest.mark.parametrize("name", FILES)
def test_a_damaged_run_file_is_named_or_harmless_at_more_lengths(finished_run, tmp_path, capsys, name, how):
    _check(finished_run, tmp_path, capsys, name, how)


class Payload:
    """An object a trainer state must never hold: loading it would run code."""

    def __reduce__(self):
        return (os.getenv, ("HOME",))


def test_a_trainer_state_with_a_pickled_object_is_refused_without_the_unsafe_advice(finished_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(finished_run / "run", run)
    trainer = run / "checkpoints" / "last" / "trainer.pt"
    state = torch.load(trainer, weights_only=True)
    torch.save({**state, "extra": Payload()}, trainer)
    with temporary_plugin(sak_toy_plugin, distribution="sak-toy-plugin"):
        code = main(["train", "--resume", str(run), "--iterations", "3", "--device", "cpu"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1 and f"{trainer} holds objects other than tensors" in err and "refuses to unpickle" in err
    assert "getenv" in err  # what it holds (torch names it 'GLOBAL os.getenv', before 2.4 'class os.getenv')
    assert "weights_only" not in err and "will likely succeed" not in err

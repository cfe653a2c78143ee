"""What a resume leaves in the run folder: a resume that fails keeps the run's config.yaml (the new
one replaces it with the resumed run's first checkpoint), stale temporary files of a killed run are
removed, and a run with no checkpoint to resume says how to start it again."""

from __future__ import annotations

import json

import pytest
import yaml

from sak_core.cli.main import main
from sak_core.training import Trainer
from sak_core.run.rundir import read_trainer_state
from sak_test_utils import TOY_RUN


@pytest.fixture
def stopped_run(toy_config, tmp_path):
    """A toy run of 6 steps stopped with the checkpoint of step 3."""
    run = tmp_path / "run"
    Trainer(toy_config(), run, device="cpu").run(stop_at=3)
    return run


def _files(run):
    return {name: (run / name).read_bytes() for name in ("config.yaml", "plugins.json")}


def test_a_resume_that_fails_before_its_first_checkpoint_keeps_the_config(stopped_run, capsys):
    before = _files(stopped_run)
    code = main(["train", "--resume", str(stopped_run), "optim.lr=1e30", "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: the loss is not finite"), err
    assert _files(stopped_run) == before
    assert read_trainer_state(stopped_run / "checkpoints" / "last")["step"] == 3
    # and the run goes on with its own settings
    assert main(["train", "--resume", str(stopped_run), "--device", "cpu"]) == 0
    assert read_trainer_state(stopped_run / "checkpoints" / "last")["step"] == 6


def test_a_resumed_run_records_its_changed_settings_with_its_first_checkpoint(stopped_run, capsys):
    assert main(["train", "--resume", str(stopped_run), "optim.grad_clip=5", "--device", "cpu"]) == 0
    config = yaml.safe_load((stopped_run / "config.yaml").read_text())
    assert config["optim"]["grad_clip"] == 5


def test_stale_temporary_files_of_a_killed_writer_are_removed_when_the_run_resumes(stopped_run, toy_config):
    ours = [stopped_run / ".config.yaml.k2_9zq0a.tmp.yaml", stopped_run / ".metrics.jsonl.abcdefgh.tmp.jsonl",
            stopped_run / "best" / ".score.json.0123456_.tmp.json",
            stopped_run / "checkpoints" / "last" / ".trainer.pt.zzzzzzzz.tmp.pt"]
    others = [stopped_run / ".notes.tmp", stopped_run / ".config.yaml.short.tmp.yaml",
              stopped_run / ".config.yaml.abcdefgh.tmp.json", stopped_run / "notes.abcdefgh.tmp.txt"]
    for path in ours + others:
        path.parent.mkdir(exist_ok=True)  # best/ is written at the first validation after step 0
        path.write_text("partial")
    Trainer(toy_config(), stopped_run, resume=True, device="cpu").run()
    assert [p for p in ours if p.exists()] == []
    assert all(p.read_text() == "partial" for p in others)  # not of our naming: the user's


def test_a_run_that_stopped_before_its_first_checkpoint_says_how_to_start_it_again(toy_config, tmp_path, capsys,
                                                                                 monkeypatch):
    run = tmp_path / "run"
    original = Trainer._total
    monkeypatch.setattr(Trainer, "_total", lambda self, terms: original(self, terms) * float("nan"))
    assert main(["train", "--config", str(_toy_file(tmp_path)), "--out", str(run), "--device", "cpu"]) == 1
    monkeypatch.setattr(Trainer, "_total", original)
    (run / "checkpoints" / ".last.new").mkdir(parents=True)  # killed while writing its first checkpoint
    (run / "checkpoints" / ".last.new" / "model.safetensors").write_bytes(b"\0" * 64)
    capsys.readouterr()

    assert main(["train", "--resume", str(run), "--device", "cpu"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"error: --resume: {run} has no checkpoint"), err
    advice = f"sak train --config {run / 'config.yaml'} --out {run}"
    assert advice in err
    assert main([*advice.split()[1:], "--device", "cpu"]) == 0  # the advice works
    assert read_trainer_state(run / "checkpoints" / "last")["step"] == 6
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines if line["split"] == "train"] == [1, 2, 3, 4, 5, 6]  # once each
    assert [line["step"] for line in lines if line["split"] == "val"] == [0, 6]


def _toy_file(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(TOY_RUN))
    return path

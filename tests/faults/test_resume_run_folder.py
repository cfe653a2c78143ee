"""What a resume leaves in the run folder: a resume that fails keeps the run's config.yaml (the new
one replaces it with the resumed run's first checkpoint), stale temporary files of a killed run are
removed, and a run with no checkpoint to resume says how to start it again."""

from __future__ import annotations

import pytest
import yaml

from sak_core.cli.main import main
from sak_core.training import Trainer
from sak_core.training.rundir import read_trainer_state


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

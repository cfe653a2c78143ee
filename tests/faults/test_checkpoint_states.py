"""The checkpoint commit protocol: one complete model + trainer pair exists at every instant, and
a writer recovers from each state a crash can leave (checkpoints/last, .last.new, .last.old)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from sak_core.run.checkpoint import MODEL_FILE, read_metadata
from sak_core.model import SAKStudent, StudentConfig
from sak_core.training.loop import Trainer
from sak_core.run.rundir import TRAINER_FILE, RunDir, read_trainer_state, write_checkpoint
from sak_test_utils import sak_env

SWAPPER = Path(__file__).with_name("swap_checkpoints.py")

TINY = StudentConfig(stem="vit_small", stem_overrides={"embed_dim": 32, "depth": 2, "num_heads": 2},
                     input_size=(32, 32), stem_pretrained=False, teachers={"t": 32})


def _student(seed: int) -> SAKStudent:
    torch.manual_seed(seed)
    return SAKStudent(TINY)


def _write(rundir: RunDir, step: int, folder=None) -> None:
    write_checkpoint(folder or rundir.last, _student(step), {"step": step}, {"step": str(step)})


def _pair_step(folder) -> int:
    """The step of a checkpoint folder, asserting its model and trainer state belong together."""
    step = int(read_trainer_state(folder)["step"])
    assert int(read_metadata(folder / MODEL_FILE)["step"]) == step
    torch.testing.assert_close(load_file(str(folder / MODEL_FILE)), _student(step).state_dict(), rtol=0, atol=0)
    return step


def test_a_write_that_fails_half_way_keeps_the_previous_pair(tmp_path):
    rundir = RunDir(tmp_path)
    _write(rundir, 1)
    with pytest.raises(Exception):  # the model is written, then the trainer state cannot be pickled
        write_checkpoint(rundir.last, _student(2), {"step": 2, "bad": lambda: None}, {"step": "2"})
    assert _pair_step(rundir.last) == 1
    assert rundir.recover() == rundir.last and _pair_step(rundir.last) == 1
    assert sorted(p.name for p in rundir.last.parent.iterdir()) == ["last"]


def _partial(folder) -> None:
    """Cut a complete checkpoint folder down to what a crash mid-write leaves: the model only."""
    (folder / TRAINER_FILE).unlink()


# each state: (folders present as {name: step or "partial step"}, the step recovery must give)
STATES = {
    "new complete, no last": ({".last.new": 2}, 2),
    "last and new complete": ({"last": 1, ".last.new": 2}, 2),
    "old and new complete, no last": ({".last.old": 1, ".last.new": 2}, 2),
    "old complete, new partial": ({".last.old": 1, ".last.new": "partial 2"}, 1),
    "last complete, new partial": ({"last": 1, ".last.new": "partial 2"}, 1),
    "last partial, old complete": ({"last": "partial 2", ".last.old": 1}, 1),
    "last and old complete": ({"last": 2, ".last.old": 1}, 2),
}


@pytest.mark.parametrize("state", STATES, ids=list(STATES))
def test_recovery_from_every_intermediate_state(tmp_path, state):
    folders, expected = STATES[state]
    rundir = RunDir(tmp_path)
    for name, step in folders.items():
        partial = isinstance(step, str)
        _write(rundir, int(str(step).split()[-1]), rundir.last.with_name(name))
        if partial:
            _partial(rundir.last.with_name(name))
    assert _pair_step(rundir.last_checkpoint()) == expected  # what a reader sees, nothing changed
    assert rundir.recover() == rundir.last
    assert _pair_step(rundir.last) == expected
    assert sorted(p.name for p in rundir.last.parent.iterdir()) == ["last"]
    _write(rundir, 7)  # and the next commit works from there
    assert _pair_step(rundir.last) == 7


def test_resume_continues_from_a_complete_new_folder_with_no_last(toy_config, tmp_path):
    config = toy_config()
    Trainer(config, tmp_path / "run").run(stop_at=3)
    last = RunDir(tmp_path / "run").last
    last.rename(last.with_name(".last.new"))  # a crash after the write, before the swap
    trainer = Trainer(config, tmp_path / "run", resume=True)
    assert trainer.step == 3 and trainer.resume_from == last
    trainer.run()
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_a_corrupt_last_model_on_resume_is_one_sentence_naming_the_file(toy_config, tmp_path):
    from sak_core.errors import CheckpointError

    config = toy_config()
    Trainer(config, tmp_path / "run").run(stop_at=3)
    model = RunDir(tmp_path / "run").last / MODEL_FILE
    model.write_bytes(model.read_bytes()[:100])
    with pytest.raises(CheckpointError, match=f"{model} is not a readable safetensors file .*truncated"):
        Trainer(config, tmp_path / "run", resume=True)
    shutil.rmtree(tmp_path / "run")


def test_best_is_recovered_as_a_whole_with_its_score(tmp_path):
    rundir = RunDir(tmp_path)
    write_checkpoint(rundir.best, _student(1), None, {"step": "1"}, extra={"step": 1})
    new = rundir.best.with_name(".best.new")
    write_checkpoint(new, _student(2), None, {"step": "2"}, extra={"step": 2})  # a crash before the swap
    partial = rundir.best.with_name(".best.old")
    write_checkpoint(partial, _student(3), None, {"step": "3"}, extra={"step": 3})
    (new / "score.json").unlink()  # .best.new without its score: not complete
    rundir.recover()
    assert read_metadata(rundir.best / MODEL_FILE)["step"] == "1"
    assert (rundir.best / "score.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]



def test_a_reader_loads_whole_students_while_another_process_swaps_checkpoints_without_pause(tmp_path):
    """`sak eval RUN` on a live run: every load gives one complete checkpoint and never an error,
    however its reads interleave with the writer's swap (last -> .last.old, .last.new -> last)."""
    from sak_core.run.checkpoint import load_student, save_student

    for step in (1, 2):
        save_student(_student(step), tmp_path / f"{step}.safetensors")
    expected = {step: _student(step).state_dict() for step in (1, 2)}
    run = tmp_path / "run"
    writer = subprocess.Popen([sys.executable, str(SWAPPER), str(run), str(tmp_path / "1.safetensors"),
                               str(tmp_path / "2.safetensors")], stdout=subprocess.PIPE, text=True,
                              env=sak_env(env={"OMP_NUM_THREADS": "1"}))
    seen = []
    try:
        assert writer.stdout.readline().strip() == "swapping"
        for _ in range(150):
            state = load_student(run).state_dict()
            seen += [step for step, own in expected.items() if all(torch.equal(state[k], own[k]) for k in own)]
    finally:
        writer.kill()
        writer.communicate(timeout=60)
    assert len(seen) == 150  # each load was one of the two students, whole
    assert set(seen) == {1, 2}  # and the writer swapped them under the reader all along

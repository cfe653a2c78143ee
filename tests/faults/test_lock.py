"""One writer per run directory: real `sak train` processes racing for one run."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import torch
from sak_core.evaluation import RunContext
from sak_core.run.rundir import RunDir, read_trainer_state
from sak_test_utils import TOY_ENV, run_sak, start_sak


def _wait_for(predicate, proc, seconds: float = 240) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            raise AssertionError(f"the first writer ended early: {proc.communicate()}")
        time.sleep(0.2)
    raise AssertionError("timed out")


def _holder(run: Path) -> dict:
    return json.loads((run / "writer.lock").read_text().splitlines()[0])


def test_two_plain_starts_race_and_exactly_one_trains(tmp_path, toy_site, toy_yaml):
    config = toy_yaml(optim={"iterations": 4})
    run = tmp_path / "run"
    procs = [start_sak("train", "--config", str(config), "--out", str(run), site=toy_site, env=TOY_ENV)
             for _ in range(2)]
    results = [(p.pid, p.returncode, *p.communicate(timeout=300)) for p in procs]
    results = [(pid, p.returncode, out, err) for (pid, _, out, err), p in zip(results, procs)]
    codes = sorted(r[1] for r in results)
    assert codes == [0, 1], results
    (winner,) = [r for r in results if r[1] == 0]
    (loser,) = [r for r in results if r[1] == 1]
    message = " ".join(loser[3].split())
    assert message.startswith("error: ") and "Traceback" not in loser[3]
    # refused by the lock (naming the holder, or, in the moment between the holder's flock and its
    # writing its pid, saying so) or, had the winner already finished, as an existing run
    assert (f"another sak train (pid {winner[0]} on host" in message
            or "another sak train (a process that has not yet written its pid)" in message
            or "already holds a run" in message), message
    steps = [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines()
             if json.loads(l)["split"] == "train"]
    assert steps == [1, 2, 3, 4]  # one writer's log, no step twice


def test_resume_of_a_live_run_is_refused_and_readers_keep_working(tmp_path, toy_site, toy_yaml):
    config = toy_yaml(output={"checkpoint_every": 1})
    run = tmp_path / "run"
    first = start_sak("train", "--config", str(config), "--out", str(run), "--iterations", "100000",
                      site=toy_site, env=TOY_ENV)
    try:
        _wait_for(lambda: (run / "checkpoints" / "last" / "trainer.pt").is_file(), first)
        assert _holder(run)["pid"] == first.pid
        r = run_sak("train", "--resume", str(run), site=toy_site, env=TOY_ENV)
        assert r.returncode == 1, r.stdout + r.stderr
        message = " ".join(r.stderr.split())
        assert f"is being written by another sak train (pid {first.pid} on host" in message, message
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) <= 3
        assert first.poll() is None  # the live run was not disturbed
        # a reader of the live run needs no lock: the student of its checkpoint loads, again and again
        for _ in range(20):
            student = RunContext.open(run).load_student()
            assert student(torch.zeros(1, 3, 32, 32)).tasks["toy_seg"].shape == (1, 2, 32, 32)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=60)
    # the kernel released the lock of the killed process: the run resumes
    step = int(read_trainer_state(RunDir(run).last_checkpoint())["step"])
    r = run_sak("train", "--resume", str(run), "--iterations", str(step + 1), site=toy_site, env=TOY_ENV)
    assert "being written" not in r.stderr, r.stderr
    assert r.returncode == 0, r.stdout + r.stderr
    assert _holder(run)["pid"] != first.pid
    assert f"resuming {run} at step {step}" in r.stdout

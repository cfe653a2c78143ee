"""metrics.jsonl on resume: the lines after the checkpoint's step are dropped by replacing the file
as a whole, so a kill -9 or a file-size limit at any moment never loses a line at or before the
checkpoint's step (it used to be rewritten in place: a limit cut it mid-line, a kill emptied it)."""

from __future__ import annotations

import json
import os
import random
import resource
import signal
import time

import pytest

from sak_core.errors import EnvironmentProblem
from sak_core.training.reporting import MetricsLog

STEP = 300  # the checkpoint's step


def _history(path, last: int) -> list[str]:
    """A metrics.jsonl of train lines for steps 1..last, ~110 bytes each; returns the lines <= STEP."""
    lines = [json.dumps({"step": s, "split": "train", "time": 1.0, "loss": 1 / s, "lr": 1e-3, "pad": "x" * 40})
             for s in range(1, last + 1)]
    path.write_text("".join(line + "\n" for line in lines))
    return lines[:STEP]


def _in_child(work) -> tuple[int, str]:
    """Run ``work()`` in a forked child; its exit status and what it wrote to the pipe."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: only file work, then leave without running pytest's exit code
        os.close(read)
        try:
            message = work() or ""
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            message = f"{type(exc).__name__}: {exc}"
        os.write(write, message.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    _, status = os.waitpid(pid, 0)
    return status, text


def test_a_file_size_limit_during_the_rewrite_keeps_every_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    kept = _history(path, 400)
    before = path.read_bytes()

    def truncate_under_a_limit():
        limit = len(before) // 4  # below what the kept lines need
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
        MetricsLog(path, tensorboard=False).truncate_after(STEP)

    status, message = _in_child(truncate_under_a_limit)
    assert status == 0
    assert message.startswith(f"{EnvironmentProblem.__name__}: {path}: file too large"), message
    assert path.read_bytes() == before  # untouched: every line is there, none cut
    assert not list(tmp_path.glob(".metrics.jsonl.*"))  # the temporary file is removed
    MetricsLog(path, tensorboard=False).truncate_after(STEP)  # without the limit: the lines of the checkpoint
    assert path.read_text().splitlines() == kept


def test_a_kill_at_any_moment_of_the_rewrite_keeps_every_line_up_to_the_checkpoint(tmp_path):
    path = tmp_path / "metrics.jsonl"
    rng = random.Random(0)
    for attempt in range(6):
        kept = _history(path, 4000)
        pid = os.fork()
        if pid == 0:  # resume after resume: lines past the checkpoint appended, then dropped, forever
            try:
                log = MetricsLog(path, tensorboard=False)
                while True:
                    for step in range(STEP + 1, STEP + 50):
                        log.write(step, "train", {"loss": 0.5})
                    log.truncate_after(STEP)
            finally:
                os._exit(1)
        time.sleep(rng.uniform(0.01, 0.3))
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        lines = path.read_text().splitlines()
        assert lines[:STEP] == kept, f"attempt {attempt}: {len(lines)} lines left"
        MetricsLog(path, tensorboard=False).truncate_after(STEP)  # the next resume reads it whole
        assert path.read_text().splitlines() == kept


@pytest.mark.parametrize("cut", [1, 17, 60])
def test_a_line_cut_short_by_a_crash_is_dropped_and_the_rest_kept(tmp_path, cut):
    path = tmp_path / "metrics.jsonl"
    kept = _history(path, STEP)
    path.write_text(path.read_text() + json.dumps({"step": STEP + 1, "split": "train", "loss": 2.5})[:cut])
    MetricsLog(path, tensorboard=False).truncate_after(STEP)
    assert path.read_text().splitlines() == kept

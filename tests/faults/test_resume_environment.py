"""The machine refusing a run's writes: a file-size limit (ulimit -f) while a checkpoint is written
and a run folder the user cannot write are one `error:` line naming the path and what to do, never
a "bug" hint, and the previous checkpoint stays whole. Each case runs `sak train` (cli.main) in a
forked child, which sets the limit (or drops root) for itself alone."""

from __future__ import annotations

import os
import resource
import sys

import pytest
from safetensors.torch import load_file

from sak_core.cli.main import main
from sak_core.training import Trainer
from sak_core.training.lock import RunLock
from sak_core.run.rundir import read_trainer_state

NOBODY = 65534


def _sak_in_child(tmp_path, argv: list[str], limit: int | None = None, as_nobody: bool = False) -> tuple[int, str]:
    """Exit status and stderr of ``sak ARGV`` in a forked child under a file-size ``limit`` (bytes),
    or as an unprivileged user working in ``tmp_path`` (whose parents that user may not enter)."""
    err = tmp_path / "stderr.txt"
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            sys.stderr = sys.__stderr__ = open(err, "w")  # noqa: SIM115 - the child's own stderr
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
            if as_nobody:
                os.chdir(tmp_path)
                if os.geteuid() == 0:
                    os.setgid(NOBODY)
                    os.setuid(NOBODY)
            code = main(argv)
        finally:
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err.read_text()


def _one_line(err: str) -> str:
    text = " ".join(err.split())
    assert text.startswith("error: ") and "Traceback" not in err and "bug" not in text, err
    return text


def test_a_file_size_limit_during_a_checkpoint_is_one_line_and_keeps_the_previous_one(toy_config, tmp_path):
    run = tmp_path / "run"
    Trainer(toy_config(), run, device="cpu").run(stop_at=3)
    last = run / "checkpoints" / "last"
    before = {p.name: p.read_bytes() for p in last.iterdir()}
    limit = (last / "model.safetensors").stat().st_size // 2  # metrics lines fit, a model does not
    code, err = _sak_in_child(tmp_path, ["train", "--resume", str(run), "--device", "cpu"], limit=limit)
    text = _one_line(err)
    assert code == 1 and f"{run}/" in text and "file-size limit" in text and "ulimit -f" in text, text
    assert text.endswith(("keeps its previous checkpoint)", "was written)")), text
    assert {p.name: p.read_bytes() for p in last.iterdir()} == before
    assert not (run / "checkpoints" / ".last.new").exists() and not list(run.rglob(".*.tmp*"))
    assert main(["train", "--resume", str(run), "--device", "cpu"]) == 0  # without the limit it goes on
    assert read_trainer_state(last)["step"] == 6 and load_file(str(run / "model.safetensors"))


@pytest.mark.skipif(os.geteuid() == 0 and not hasattr(os, "setuid"), reason="needs a user other than root")
def test_a_run_folder_the_user_cannot_write_is_one_line_naming_the_lock_file(toy_config, tmp_path):
    run = tmp_path / "run"
    Trainer(toy_config(), run, device="cpu").run(stop_at=3)
    for path in [tmp_path, *run.rglob("*")]:  # readable by all, as a shared or copied run would be
        path.chmod(0o755 if path.is_dir() else 0o644)
    (run / "writer.lock").unlink()  # a copy of a run: its lock file would have to be created
    os.chmod(run, 0o555)
    try:
        code, err = _sak_in_child(tmp_path, ["train", "--resume", "run", "--device", "cpu"], as_nobody=True)
    finally:
        os.chmod(run, 0o755)
    text = _one_line(err)
    assert code == 1 and "run/writer.lock: permission denied" in text, text
    assert "change its permissions" in text
    RunLock(run).acquire().release()  # nothing was left locked or changed
    assert read_trainer_state(run / "checkpoints" / "last")["step"] == 3

"""The machine's refusals (permission denied, a full disk, a file-size limit, a name too long, a
file in the way, a file that is not UTF-8, torch's failed write) end as one ``error:`` line naming
the path and what to do, never as a "bug in sak"; files are created with the user's umask."""

from __future__ import annotations

import errno
import json
import os
import resource
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from sak_core import StudentConfig, create_student, save_student
from sak_core.cli.main import main
from sak_core.config import RunConfig, read_yaml
from sak_core.datasets.files import read_split
from sak_core.errors import EnvironmentProblem
from sak_core.runtime.files import atomic_write_text, describe_os_error, staged_writes

SAK = [sys.executable, "-m", "sak_core"]
BUG = "looks like a bug"


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("code, words", [
    (errno.EACCES, "permission denied"), (errno.EROFS, "read-only"), (errno.ENOSPC, "no space left"),
    (errno.EFBIG, "file-size limit"), (errno.ENAMETOOLONG, "too long"), (errno.EISDIR, "is a folder"),
    (errno.ENOTDIR, "not a folder"), (errno.EDQUOT, "quota"),
])
def test_each_os_error_is_one_line_naming_the_path(code, words):
    exc = OSError(code, os.strerror(code), "runs/x/model.safetensors")
    line = describe_os_error(exc)
    assert line is not None and "\n" not in line
    assert "runs/x/model.safetensors" in line and words in line
    assert ";" in line  # and what to do


@given(st.integers(min_value=1, max_value=200), st.text(min_size=1, max_size=40).filter(lambda t: "\n" not in t))
def test_any_os_error_is_described_with_its_path(code, name):
    line = describe_os_error(OSError(code, "some reason", name))
    assert line is not None and name in line


def test_a_path_given_names_errors_that_name_none():
    assert describe_os_error(OSError(errno.ENOSPC, "No space left on device"), "out.onnx").startswith("out.onnx: ")
    torch_failure = RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")
    line = describe_os_error(torch_failure, "run/checkpoints/last/state.pt")
    assert "run/checkpoints/last/state.pt" in line and "unexpected pos 64 vs 0" in line and "ulimit -f" in line
    assert describe_os_error(ValueError("a bug")) is None
    assert describe_os_error(RuntimeError("shape mismatch")) is None


def test_bad_encoding_of_config_and_split_files_names_them(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_bytes(b"optim:\n  lr: 1e-3 # caf\xe9\n")  # latin-1
    with pytest.raises(EnvironmentProblem, match=r"config.yaml: not UTF-8 text \(byte 0xe9"):
        read_yaml(config)
    split = tmp_path / "val.txt"
    split.write_bytes(b"a\n\xff\xfeb\n")
    with pytest.raises(EnvironmentProblem, match=r"val.txt: not UTF-8"):
        read_split(split, "nyud", "layout")


def tiny_run(folder: Path) -> Path:
    folder.mkdir()
    config = StudentConfig(stem="vit_small", stem_overrides={"embed_dim": 32, "depth": 2, "num_heads": 2},
                           input_size=(32, 32), teachers={"dinov2": 0}, tasks={"semseg": 3})
    save_student(create_student(config), folder / "model.safetensors")
    run_config = RunConfig(stage=2, tasks=["semseg"], data={"dataset": "synthetic"})
    (folder / "config.yaml").write_text(yaml.safe_dump(run_config.model_dump(mode="json")))
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_run_config_that_is_not_utf8_is_one_line_not_a_bug(tmp_path, capsys):
    run = tiny_run(tmp_path / "run")
    (run / "config.yaml").write_bytes((run / "config.yaml").read_bytes() + "# \u00e9\n".encode("latin-1"))
    before = snapshot(run)
    assert main(["export", str(run), "--out", str(tmp_path / "s.onnx"), "--no-check"]) == 1
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and BUG not in err
    assert str(run / "config.yaml") in err and "not UTF-8" in err
    assert snapshot(run) == before and not (tmp_path / "s.onnx").exists()


def test_a_file_size_limit_is_one_line(tmp_path):
    """``ulimit -f`` (Python ignores SIGXFSZ, so the write fails with EFBIG)."""
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))  # noqa: E731
    done = subprocess.run([*SAK, "data", "synth", "--out", "syn", "-n", "2", "--size", "64x64"], cwd=tmp_path,
                          capture_output=True, text=True, preexec_fn=limit, timeout=120)
    assert done.returncode == 1
    assert error_lines(done.stderr) == [line for line in done.stderr.splitlines() if line.strip()]
    assert len(error_lines(done.stderr)) == 1 and BUG not in done.stderr
    assert "syn: file too large" in done.stderr and "ulimit -f" in done.stderr
    assert not (tmp_path / "syn").exists()  # rendered beside it, renamed only when whole


def test_a_full_output_stream_is_one_line(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("this system has no /dev/full")
    with open("/dev/full", "w") as full:
        done = subprocess.run([*SAK, "plugins"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert len(error_lines(done.stderr)) == 1 and "no space left" in done.stderr and BUG not in done.stderr


def test_seed_below_zero_is_a_usage_error(tmp_path):
    done = subprocess.run([*SAK, "data", "synth", "--out", "syn", "--seed", "-1"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "'-1' is not an integer of 0 or more" in done.stderr
    assert not (tmp_path / "syn").exists()


def test_a_name_too_long_is_one_line(tmp_path, capsys):
    name = "a" * 300
    assert main(["new", "teacher", name, "--dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and BUG not in err and "too long" in err
    assert list(tmp_path.iterdir()) == []


def _as_nobody():
    os.setgid(65534)
    os.setuid(65534)


@pytest.fixture
def unprivileged():
    """``(preexec_fn, folder)``: how to run sak as a user the permissions hold for, and a folder that
    user can reach (pytest's own is private to root). Skips where none can be had."""
    if os.geteuid() != 0:
        folder = Path(tempfile.mkdtemp())
        yield None, folder
    else:
        try:
            subprocess.run([sys.executable, "-c", "import sak_core"], preexec_fn=_as_nobody, check=True,
                           capture_output=True, timeout=60)
        except (subprocess.CalledProcessError, OSError) as exc:
            pytest.skip(f"running as root, which writes into read-only folders, and no other user can run sak: {exc}")
        folder = Path(tempfile.mkdtemp())
        folder.chmod(0o777)
        yield _as_nobody, folder
    subprocess.run(["chmod", "-R", "u+rwx", str(folder)], check=False)
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def test_a_read_only_run_folder_is_one_line_and_unchanged(unprivileged):
    preexec, folder = unprivileged
    run = tiny_run(folder / "run")
    for path in (run, *run.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    before = snapshot(run)
    run.chmod(0o555)
    out = run / "student.onnx"
    done = subprocess.run([*SAK, "export", str(run), "--out", str(out), "--no-check"], capture_output=True,
                          text=True, preexec_fn=preexec, timeout=300, cwd=folder)
    assert done.returncode == 1, done.stderr
    assert len(error_lines(done.stderr)) == 1 and BUG not in done.stderr, done.stderr
    assert "permission denied" in done.stderr and str(run) in done.stderr
    assert snapshot(run) == before


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_files_written_through_io_get_the_umask(tmp_path, mask):
    old = os.umask(mask)
    try:
        text = atomic_write_text(tmp_path / "config.yaml", "a: 1\n")
        with staged_writes() as stage:
            stage(tmp_path / "plugins.json").write_text(json.dumps([]))
        config = StudentConfig(stem="vit_small", stem_overrides={"embed_dim": 32, "depth": 1, "num_heads": 2},
                               input_size=(32, 32), teachers={"dinov2": 0}, tasks={"semseg": 3})
        save_student(create_student(config), tmp_path / "model.safetensors")
    finally:
        os.umask(old)
    for path in (text, tmp_path / "plugins.json", tmp_path / "model.safetensors"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask, path

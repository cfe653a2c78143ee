"""The generated fault matrix (issue 21): bad images x (predict a file, predict a folder, eval,
train), bad configs and environment variables, and the machine's refusals. For each case: the
expected exit status, exactly one ``error:`` line naming the file or field (or success where the
input is valid, with the right result), no traceback or "bug" hint, and no file that existed
before changed (the run folder, the dataset, the inputs). The cases are in faultkit.py; in-process
cases run ``sak_core.cli.main.main``, the ones that need a process of their own (resource
limits, stdout on /dev/full, plugin loading) are ``slow``."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("faultkit", Path(__file__).with_name("faultkit.py"))
faultkit = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("faultkit", faultkit)
_spec.loader.exec_module(faultkit)

SLOW_TRAIN = {"zero-bytes", "text-named-png", "png-16-bit", "cmyk-jpeg", "exif-sideways"}  # the rest run by default


def _param(case, slow: bool = False):
    return pytest.param(case, id=case.id, marks=[pytest.mark.slow] if slow or case.subprocess else [])


IMAGE_CASES = [_param(faultkit.image_case(image, mode), slow=mode == "train" and image in SLOW_TRAIN)
               for image in faultkit.BAD_IMAGES for mode in faultkit.MODES]
CONFIG_CASES = [_param(case) for case in faultkit.config_cases()]
ENVIRONMENT_CASES = [_param(case) for case in faultkit.environment_cases()]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """The shared workspace, built once; each case works in a copy of it."""
    return faultkit.build_workspace(tmp_path_factory.mktemp("faults") / "base")


def check(case, workspace: Path, tmp_path: Path) -> None:
    outcome = faultkit.run_case(case, workspace, tmp_path / "ws")
    assert outcome.kind == "clean", f"{outcome.kind}: {outcome.line}"


@pytest.mark.parametrize("case", IMAGE_CASES)
def test_bad_image(case, workspace, tmp_path):
    check(case, workspace, tmp_path)


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_config_or_environment_variable(case, workspace, tmp_path):
    check(case, workspace, tmp_path)


@pytest.mark.parametrize("case", ENVIRONMENT_CASES)
def test_machine_refusal(case, workspace, tmp_path):
    check(case, workspace, tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder: needs a non-root user")
@pytest.mark.parametrize("command", ["predict", "eval"])
def test_read_only_output_folder(workspace, tmp_path, command):
    def argv(ws: Path) -> list[str]:
        if command == "predict":
            return ["predict", str(ws / "run"), str(ws / "images" / "good.png"), "--out", str(ws / "ro" / "p"),
                    *faultkit.RUNTIME]
        return ["eval", str(ws / "run"), "--data-root", str(ws / "data"), "--out", str(ws / "ro" / "m.json"),
                "--workers", "0", *faultkit.RUNTIME]

    def setup(ws: Path) -> None:
        (ws / "ro").mkdir()
        (ws / "ro").chmod(0o555)

    case = faultkit.Case(f"read-only x {command}", argv, setup=setup,
                         names=lambda ws: [str(ws / "ro"), "permission denied"])
    try:
        check(case, workspace, tmp_path)
    finally:
        (tmp_path / "ws" / "ro").chmod(0o755)


def test_the_classification_sees_each_kind_of_failure(workspace, tmp_path):
    """The matrix would pass a broken sak if its classifier could not see a failure."""
    Case = faultkit.Case
    good = ["predict", "RUN", "IMG", "--out", "OUT", *faultkit.RUNTIME]

    def argv(ws: Path) -> list[str]:
        return [str(ws / "run") if a == "RUN" else str(ws / "images" / "good.png") if a == "IMG"
                else str(ws / "out") if a == "OUT" else a for a in good]

    run = lambda case: faultkit.run_case(case, workspace, tmp_path / "ws")  # noqa: E731
    assert run(Case("valid, expected to fail", argv)).kind == "silent wrong"
    assert run(Case("valid", argv, ok=True, replaces=("out/",))).kind == "clean"
    assert run(Case("writes where it may not", argv, ok=True)).kind == "clean"  # new files are not a loss
    existing = lambda ws: (ws / "out" / "semseg").mkdir(parents=True) or (  # noqa: E731
        ws / "out" / "semseg" / "good.png").write_bytes(b"x")
    assert run(Case("refused", argv, setup=existing, names=lambda ws: ["--overwrite"])).kind == "clean"
    overwrite = Case("replaced", lambda ws: [*argv(ws), "--overwrite"], ok=True, setup=existing)
    assert run(overwrite).kind == "data lost"
    wrong = Case("wrong result", argv, ok=True, replaces=("out/",), check=lambda ws: "the depth is upside down")
    assert run(wrong).kind == "silent wrong"
    unnamed = Case("does not name", lambda ws: ["predict", str(ws / "run"), str(ws / "nope.png"), "--out",
                                                 str(ws / "out")], names=lambda ws: ["something else"])
    assert run(unnamed).kind == "unclear"
    traced = Case("a traceback", lambda ws: ["predict", str(ws / "run"), str(ws / "nope.png"), "--out",
                                             str(ws / "out")], env={"SAK_DEBUG": "1"})
    assert run(traced).kind == "traceback"

"""`import sak_core`, `sak --help`, `sak COMMAND --help`, `sak plugins` and `sak describe` start
without the deep-learning stack: plugins register specs, heavy imports happen in factories."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import pytest

from sak_core.cli.main import build_parser

HEAVY = ("torch", "timm", "open_clip", "segment_anything")

# Runs BEFORE, then `sak ARGS` in this process; prints the exit code and the heavy modules loaded.
PROBE = """
import contextlib, io, json, sys
{before}
from sak_core.cli.main import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        code = main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
print(json.dumps({{"code": code, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def heavy_imports(*args: str, before: str = "") -> list[str]:
    """The heavy modules a fresh process has imported after ``before`` and `sak ARGS`."""
    code = PROBE.format(before=before, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["code"] in (0, None), (args, done.stderr)
    return report["heavy"]


def commands() -> list[str]:
    parser = build_parser()
    return sorted(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices)


def test_the_probe_sees_a_heavy_import():
    assert heavy_imports("--help", before="import torch") == ["torch"]


def test_import_sak_core_is_light():
    assert heavy_imports("--version", before="import sak_core, sak_core.plugin.lookup, sak_core.plugin.specs") == []


@pytest.mark.parametrize("args", [["--help"], *[[name, "--help"] for name in commands()]], ids=" ".join)
def test_help_is_light(args):
    assert heavy_imports(*args) == []


@pytest.mark.parametrize(
    "args", [["plugins"], ["plugins", "--json"], ["describe", "dataset", "nyud"], ["describe", "task", "semseg"],
             ["describe", "teacher", "dinov2"]], ids=" ".join,
)
def test_listing_and_describing_plugins_is_light(args):
    """Every installed plugin loads: the built-in datasets, the task and the teacher plugins."""
    assert heavy_imports(*args) == []


def test_task_and_dataset_plugins_register_without_torch():
    """The part of the above that the task plugins and built-in datasets own."""
    tasks = "sak-task-semseg,sak-task-parts,sak-task-saliency,sak-task-normals,sak-task-depth,sak-task-boundaries"
    before = f"import os; os.environ['SAK_LOAD_PLUGINS'] = {tasks!r}"
    assert heavy_imports("plugins", before=before) == []
    assert heavy_imports("describe", "task", "boundaries", before=before) == []

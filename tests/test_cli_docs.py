"""docs/cli.md matches the parsers, and every command and option of `sak` has help text."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parents[1] / "docs"


def load_gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", DOCS / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen_cli = load_gen_cli()


def test_cli_md_is_up_to_date():
    expected = gen_cli.render()
    actual = (DOCS / "cli.md").read_text()
    if actual == expected:
        return
    recorded = re.search(r"argparse of Python (\d+\.\d+)", actual)
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if recorded and recorded.group(1) != running:
        # argparse's layout changes between Python versions (e.g. 3.13's "-n, --count COUNT").
        pytest.skip(f"docs/cli.md was rendered by Python {recorded.group(1)}'s argparse, this is {running}")
    pytest.fail("docs/cli.md is out of date with sak's parsers: run `python docs/gen_cli.py`")


def test_cli_reference_covers_nested_commands():
    paths = [" ".join(path) for path, _, _ in gen_cli.walk(gen_cli.build_parser())]
    assert {"sak", "sak train", "sak data synth", "sak convert official", "sak analyze routers"} <= set(paths)


def test_every_command_and_option_has_help():
    problems = []
    for path, help_text, parser in gen_cli.walk(gen_cli.build_parser()):
        command = " ".join(path)
        if len(path) > 1 and not (help_text or "").strip():
            problems.append(f"`{command}`: no help= in its add_parser call (the one-line summary)")
        if not (parser.description or "").strip():
            problems.append(f"`{command}`: no description=")
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                name = "/".join(action.option_strings) or action.metavar or action.dest
                problems.append(f"`{command}` {name}: no help=")
    assert not problems, "missing help text:\n" + "\n".join(problems)

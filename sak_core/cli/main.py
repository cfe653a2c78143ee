"""The `sak` command line: discovers its subcommands in the modules of `sak_core.cli`.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func=callable(args) -> int`` as the parser default.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from rich.console import Console
from rich.text import Text

import sak_core
from sak_core.errors import SakError

err_console = Console(stderr=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sak",
        description="Distil vision foundation models (DINOv2, CLIP, SAM, ...) into one multi-task "
        "dense-prediction student (SAK, ICLR 2025).",
    )
    parser.add_argument("--version", action="version", version=f"sak-core {sak_core.__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    package = importlib.import_module("sak_core.cli")
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name in {"main"} or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"sak_core.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except SakError as exc:
        err_console.print(Text("error: ", style="bold red") + Text(str(exc)), soft_wrap=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The `sak` command line: discovers its subcommands in the modules of `sak_core.cli`.

Each subcommand module defines ``register(subparsers)``, which adds its parser and sets
``func=callable(args) -> int`` as the parser default. Every error ends as one ``error:`` line:
a refusal of the machine (an OSError, a file that is not UTF-8, torch's failed write) is
classified by :func:`sak_core.runtime.files.describe_os_error`; any other unexpected exception adds a "bug"
hint. ``SAK_DEBUG=1`` shows the traceback as well.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import importlib
import os
import pkgutil
import signal
import sys
import threading
import traceback
from importlib.metadata import version

from rich.console import Console
from rich.text import Text

from sak_core.cli.options import dotted_to_overrides, take_overrides, take_trailing_positionals
from sak_core.errors import SakError
from sak_core.runtime.interrupts import ignore_while_exiting, interrupt_once
from sak_core.runtime.files import describe_os_error

err_console = Console(stderr=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sak",
        description="Distil vision foundation models (the teacher plugins installed) into one multi-task "
        "dense-prediction student (SAK, ICLR 2025).",
    )
    parser.add_argument("--version", action="version", version=f"sak-core {version('sak-core')}")
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
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        argv = dotted_to_overrides(argv)
    except SakError as exc:
        parser.error(str(exc))
    args, extras = parser.parse_known_args(argv)
    extras = take_overrides(args, extras)  # KEY=VALUE may come among the flags
    extras = take_trailing_positionals(args, extras)  # so may a command's list of files
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    debug = os.environ.get("SAK_DEBUG", "") not in ("", "0")
    try:
        return int(func(args) or 0)
    except SakError as exc:
        if debug:
            traceback.print_exc()
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        _error("interrupted")
        return 130
    except Exception as exc:  # a refusal of the machine, else a bug (in sak or a plugin)
        if debug:
            raise
        unnamed = isinstance(exc, OSError) and exc.filename is None
        environment = describe_os_error(exc, "the standard output" if unnamed and _stdout_refuses(exc) else None)
        if environment is not None:  # a read-only folder, a full disk, a file that is not UTF-8, ...
            _error(environment)
            return 1
        _error(f"{type(exc).__name__}: {exc}".rstrip(": "),
               "hint: this looks like a bug in sak or in a plugin; run again with SAK_DEBUG=1 for the traceback "
               "and report it")
        return 1


def _stdout_refuses(exc: OSError) -> bool:
    """True when the standard output, redirected, cannot be written (a full disk, /dev/full, a
    file-size limit): the OSError of a print names no file. Probed by writing a newline to it."""
    if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO):
        return False
    try:
        if os.isatty(1):
            return False
        os.write(1, b"\n")
    except OSError:
        return True
    return False


def _error(message: str, hint: str | None = None) -> None:
    """One ``error:`` line (never wrapped); a message's further lines (e.g. an expected folder
    layout) and ``hint`` follow it as they are."""
    first, *rest = message.strip().splitlines() or [""]
    err_console.print(Text("error: ", style="bold red") + Text(first), soft_wrap=True)
    for line in [*rest, *([hint] if hint else [])]:
        err_console.print(Text(line, style="dim"), soft_wrap=True, highlight=False)


def console_main() -> int:
    """The `sak` process: :func:`main` under the process's Ctrl-C policy (the first Ctrl-C stops
    the command, the second is ignored while it stops, the third ends it at once; see
    :mod:`sak_core.runtime.interrupts`)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupt_once)
        atexit.register(ignore_while_exiting)  # registered first, so run last: after pools are joined
    return main()


if __name__ == "__main__":
    sys.exit(console_main())

"""Command-line options that several `sak` commands share: where to run, in what precision, and
``KEY=VALUE`` config overrides (which may come anywhere among the flags)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sak_core.runtime.precision import PRECISION_SETTINGS

if TYPE_CHECKING:
    import torch

    from sak_core.runtime.device import Precision


def absolute_path(path: str) -> str:
    """``path`` with ``~`` expanded, made absolute against the working directory (not resolved:
    links stay as the user named them)."""
    return str(Path(path).expanduser().absolute())


MAX_IMAGE_SIDE = 8192  # a larger --size is a typo, and would only end in an allocation error


def image_size(text: str) -> tuple[int, int]:
    """An argparse type: ``HxW`` or ``S`` (square) -> ``(H, W)``, each side at most
    :data:`MAX_IMAGE_SIDE` (the datasets' own size parser)."""
    from sak_core.datasets.base import parse_size
    from sak_core.datasets.errors import DatasetError

    try:
        h, w = parse_size(text)
    except DatasetError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if max(h, w) > MAX_IMAGE_SIDE:
        raise argparse.ArgumentTypeError(f"size {h}x{w} is too large: each side must be at most {MAX_IMAGE_SIDE}")
    return h, w


def add_overwrite_option(parser: argparse.ArgumentParser, what: str = "the output") -> None:
    """``--overwrite``: replace an existing output (never a file the command reads); see
    :func:`sak_core.runtime.files.check_output`."""
    parser.add_argument("--overwrite", action="store_true",
                        help=f"replace {what} if it exists (a file the command reads is never replaced)")


def positive_int(text: str) -> int:
    """An argparse type: an integer of 1 or more."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: an integer of 0 or more."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer of {least} or more")
    return value


def add_runtime_options(parser: argparse.ArgumentParser, precision_default: str | None = "auto") -> None:
    """``--device`` and ``--precision`` as every command that runs the student reads them."""
    parser.add_argument("--device", default="auto", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument(
        "--precision", choices=PRECISION_SETTINGS, default=precision_default,
        help="autocast of the student's forward: auto (default: bf16 where the GPU or CPU computes it "
        "natively, else fp32), fp32 (reference-exact), bf16, or fp16 (GPU); metrics are computed in fp32",
    )


def resolve_runtime(args: argparse.Namespace, console: Any) -> tuple[torch.device, Precision]:
    """The device and precision of :func:`add_runtime_options`' flags; says on ``console`` (a
    rich Console) which precision was picked and why."""
    from sak_core.runtime.device import resolve_device, resolve_precision

    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    console.print(f"precision: {precision.name} ({precision.reason})", highlight=False, markup=False)
    return device, precision


def dotted_to_overrides(argv: list[str]) -> list[str]:
    """``--section.key VALUE`` / ``--section.key=VALUE`` -> ``section.key=VALUE``, in place in
    ``argv`` (no sak option has a dot in its name; everything after ``--`` is left alone)."""
    from sak_core.errors import ConfigError

    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            return out + argv[i:]
        name = arg[2:].split("=", 1)[0] if arg.startswith("--") else ""
        if "." in name:
            if "=" in arg:
                out.append(arg[2:])
            elif i + 1 < len(argv):
                out.append(f"{name}={argv[i + 1]}")
                i += 1
            else:
                raise ConfigError(f"{arg} needs a value (e.g. {arg} 3e-4)")
        else:
            out.append(arg)
        i += 1
    return out


def take_overrides(args: argparse.Namespace, extras: list[str]) -> list[str]:
    """Add the ``KEY=VALUE`` arguments argparse left over (those after a flag) to
    ``args.overrides`` when the command takes overrides; return what is still unrecognised."""
    if not isinstance(getattr(args, "overrides", None), list):
        return extras
    rest = [e for e in extras if e.startswith("-") or "=" not in e]
    args.overrides += [e for e in extras if e not in rest]
    return rest


def take_trailing_positionals(args: argparse.Namespace, extras: list[str]) -> list[str]:
    """Add the arguments argparse left over after the options (``sak predict RUN --out DIR
    a.jpg``) to the list positional a command names in ``trailing_positionals``; return what is
    still unrecognised (options, and everything for commands that name none)."""
    name = getattr(args, "trailing_positionals", None)
    if name is None:
        return extras
    rest = [e for e in extras if e.startswith("-")]
    getattr(args, name).extend(e for e in extras if not e.startswith("-"))
    return rest

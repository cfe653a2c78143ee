"""`sak new teacher|task NAME`: scaffold a complete plugin distribution."""

from __future__ import annotations

import argparse

from rich.console import Console

from sak_core.scaffold import KINDS, TEACHER_KINDS, scaffold


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "new",
        help="scaffold a teacher or task plugin",
        description="Create a plugin distribution sak-<kind>-<name> (pyproject with the entry point, "
        "a package with the hook implementation, a README and a passing test). "
        "`pip install -e` it and `sak plugins` lists it. A teacher wraps a timm model (--kind timm) or "
        "any torch module or function of the image (--kind module).",
    )
    parser.add_argument("kind", choices=KINDS, help="what the plugin provides")
    parser.add_argument("name", help="registry name: lowercase letters, digits and _")
    parser.add_argument(
        "--kind", dest="teacher_kind", choices=tuple(TEACHER_KINDS), default=None,
        help="teachers only: 'timm' (default), a timm model built by sak's recipe builder; 'module', "
        "a plain torch module (or function of the image) wrapped in the teacher contract, without timm",
    )
    parser.add_argument("--dir", default=".", help="folder to create it in (default: current)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    target = scaffold(args.kind, args.name, args.dir, teacher_kind=args.teacher_kind)
    console = Console()
    console.print(f"created {target}", highlight=False)
    console.print(f"next: pip install -e {target} && sak plugins && pytest {target}/tests", highlight=False)
    return 0

"""`sak weights`: each installed teacher, where its weights come from and whether they are here."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table



def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="list teacher weight files, their URLs and whether they are present",
        description="List each installed teacher's weight files (default variant, or the NAME or "
        "NAME:VARIANT given), their download URLs and where they were found. Weights are looked "
        "for in $SAK_WEIGHTS (default ~/.cache/sak/weights), then in the Hugging Face / torch "
        "hub caches. Nothing is downloaded.",
    )
    parser.add_argument("teachers", nargs="*", metavar="NAME", help="teachers to show (default: all)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from sak_core.api import get_teacher_spec, list_teachers
    from sak_core.weights import OFFLINE_ENVS, WEIGHTS_ENV, is_offline, sources_status, weights_dir

    console = Console()
    names = args.teachers or list_teachers()
    offline = f", offline ({' / '.join(OFFLINE_ENVS)} set)" if is_offline() else ""
    console.print(f"weights folder: {weights_dir()} (set {WEIGHTS_ENV} to change it){offline}")
    if not names:
        console.print("no teachers installed: pip install sak-teacher-dinov2 (or -clip, -sam, -timm)")
        return 0
    table = Table("teacher", "file", "present", "url")
    for column in table.columns:
        column.overflow = "fold"  # file names and URLs are copied from here: never cut them
    missing = 0
    for name in names:
        spec = get_teacher_spec(name)
        statuses = sources_status(spec.weights)
        if not statuses:
            table.add_row(name, "(no default source: pass weights=PATH)", "-", "")
        if statuses and not any(s.path for s in statuses):
            missing += 1
        for status in statuses:
            present = f"[green]{status.path}[/green]" if status.path else "[red]no[/red]"
            table.add_row(name, status.source.filename, present, status.source.url)
    console.print(table)
    if missing:
        console.print(
            f"{missing} teacher(s) without weights: they download on first use, or save the file "
            f"under {weights_dir()} with the name shown (machines without internet)."
        )
    return 0

"""`sak weights`: the weight files of teachers (or of a preset's teachers), where each is or goes, its URL."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "weights",
        help="list teacher weight files, where each is or goes, and their URLs",
        description="List the weight files of each installed teacher (default variant), of the "
        "teachers given as NAME[:VARIANT][,KEY=VALUE...] (the syntax of sak train --teachers), or of "
        "a preset's teachers, with the path where each was found or where it goes, and its URL. "
        "Weights are looked for in the Hugging Face cache (HF_HOME / HF_HUB_CACHE honoured) for the "
        "sources on the Hub, then in $SAK_WEIGHTS (default ~/.cache/sak/weights), then in the torch hub "
        "folder; the 'where' column says which held each file. Nothing is downloaded.",
    )
    parser.add_argument("teachers", nargs="*", metavar="SPEC",
                        help="teachers to show, e.g. teacher_a:large or teacher_b,input_size=512 (default: all)")
    parser.add_argument("--preset", metavar="NAME", help="show the files the teachers of preset NAME load")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when a teacher shown has none of its files on this machine "
                        "(check an offline machine before a long run)")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class FileRow:
    """One weight file of a teacher: found where, or where it goes, and its URL."""

    teacher: str
    file: str
    found: Path | None
    goes: Path | None
    url: str = ""
    alternative: bool = False  # another file the teacher accepts when the first is absent
    place: str = ""  # where it was found: Hub cache, sak cache, $SAK_WEIGHTS, torch hub (or the path given)


def teacher_rows(entry: dict[str, Any]) -> list[FileRow]:
    """The files a teacher entry (``{"name", "options", "weights"}``) loads, found or not."""
    from sak_core.plugin.lookup import get_teacher_spec
    from sak_core.weights.sources import RANDOM, sources_status, weights_dir

    name, weights = entry["name"], entry.get("weights")
    if weights == RANDOM:
        return [FileRow(name, "(random weights: no file)", None, None)]
    if weights is not None:
        path = Path(weights).expanduser()
        return [FileRow(name, path.name, path if path.is_file() else None, path, place="weights=PATH")]
    spec = get_teacher_spec(name, **entry.get("options", {}))
    statuses = sources_status(spec.weights)
    if not statuses:
        return [FileRow(name, "(no default source: pass weights=PATH)", None, None)]
    return [FileRow(name, s.source.filename, s.path, weights_dir() / s.source.filename, s.source.url, i > 0,
                    s.place) for i, s in enumerate(statuses)]


def _status(row: FileRow) -> str:
    if row.goes is None:
        return "-"
    return "[green]found[/green]" if row.found else "[red]missing[/red]"


def print_rows(console: Console, rows: list[FileRow]) -> None:
    """A table when it fits the console unfolded; else one block per file, whose path and URL
    are each alone on a line (never folded, so they copy whole)."""
    table = Table("teacher", "file", "status", "where", "path (found, or where it goes)", "url")
    for column in table.columns:
        column.no_wrap = True
    for row in rows:
        file = f"or {row.file}" if row.alternative else row.file
        table.add_row(row.teacher, escape(file), _status(row), escape(row.place if row.found else ""),
                      escape(str(row.found or row.goes or "")), row.url)
    if console.measure(table, options=console.options.update_width(10**6)).maximum <= console.width:
        console.print(table)
        return
    for row in rows:
        file = f"or {row.file}" if row.alternative else row.file
        place = f" ({escape(row.place)})" if row.found and row.place else ""
        console.print(f"[bold]{escape(row.teacher)}[/bold]  {escape(file)}  {_status(row)}{place}", soft_wrap=True)
        if row.found or row.goes:
            where = "found at" if row.found else "save as "
            console.print(f"  {where} {escape(str(row.found or row.goes))}", soft_wrap=True, highlight=False)
        if row.url:
            console.print(f"  url      {row.url}", soft_wrap=True, highlight=False)


def run(args: argparse.Namespace) -> int:
    from sak_core.plugin.lookup import list_teachers
    from sak_core.config import parse_teachers
    from sak_core.errors import SakError
    from sak_core.weights.sources import OFFLINE_ENVS, RANDOM, WEIGHTS_ENV, is_offline, weights_dir

    console = Console()
    folder = weights_dir()
    if folder.exists() and not folder.is_dir():  # every "save it as" below would name a path inside a file
        named = f"{WEIGHTS_ENV}={folder}" if os.environ.get(WEIGHTS_ENV) else str(folder)
        raise SakError(f"{named} names a file, not a folder: {WEIGHTS_ENV} must name the folder that holds the "
                       "weight files (or, unset, ~/.cache/sak/weights must be a folder)")
    entries = [e for text in args.teachers for e in parse_teachers(text)]
    if args.teachers and not entries:
        raise SakError(f"no teacher named in {' '.join(args.teachers)!r}: give NAME[:VARIANT][,KEY=VALUE...], "
                       "e.g. teacher_a:large, or nothing for every installed teacher")
    if args.preset:
        from sak_core.config import RunConfig
        from sak_core.presets import get_preset

        layer = get_preset(args.preset).as_layer()
        entries += [t.model_dump() for t in RunConfig.model_validate({"teachers": layer.get("teachers", [])}).teachers]
    if not args.teachers and not args.preset:
        entries = [{"name": name} for name in list_teachers()]
    offline = f", offline ({' / '.join(OFFLINE_ENVS)} set)" if is_offline() else ""
    console.print(f"weights folder: {weights_dir()} (set {WEIGHTS_ENV} to change it){offline}", soft_wrap=True)
    if not entries:
        console.print("no teachers installed: pip install a teacher plugin (sak-teacher-NAME; docs/teachers.md "
                      "lists sak's own)")
        return 0
    per_teacher = [teacher_rows(entry) for entry in entries]
    print_rows(console, [row for rows in per_teacher for row in rows])
    missing = [rows[0].teacher for rows in per_teacher if not any(r.found or r.goes is None for r in rows)]
    given = [e["name"] for e in entries if e.get("weights") not in (None, RANDOM)]
    absent = [name for name in missing if name in given]  # weights=PATH names a file that is not there
    if absent:
        console.print(f"weights=PATH names no file for: {', '.join(absent)}; check the path.")
    if set(missing) - set(absent):
        console.print(
            f"without weights on this machine: {', '.join(n for n in missing if n not in absent)}. A teacher "
            "downloads its first file on first use; on machines without internet, download one of its files "
            "elsewhere and save it as shown, or pass weights=PATH."
        )
    return 1 if missing and args.check else 0

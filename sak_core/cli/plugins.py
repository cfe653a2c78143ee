"""`sak plugins`: what is installed, from which distribution, and what failed to load."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from sak_core.plugin.api_version import API_VERSION
from sak_core.plugin.registry import get_plugin_manager


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "plugins",
        help="list installed teachers, tasks and datasets",
        description="List every registered teacher, task and dataset with the distribution and "
        "version that provides it and the plugin API range it was built for (SAK_API), and any "
        "plugin that failed to load, or that was built for another plugin API. "
        "SAK_LOAD_PLUGINS=a,b restricts loading to those distributions.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    console = Console()
    registry = get_plugin_manager().registry
    rows = [
        {"kind": e.kind, "name": e.name, "distribution": e.distribution, "version": e.version,
         "api": e.api,
         "description": getattr(e.spec, "description", "")}
        for kind in registry.entries
        for e in sorted(registry.entries[kind].values(), key=lambda e: e.name)
    ]
    failures = [
        {"distribution": f.distribution, "entry_point": f.entry_point, "error": f.error}
        for f in registry.failures
    ]
    conflicts = [
        {"kind": kind, "name": name, "distributions": dists, "message": registry.conflict_message(kind, name)}
        for (kind, name), dists in sorted(registry.conflicts.items())
    ]
    if args.json:
        print(json.dumps({"api_version": API_VERSION, "plugins": rows, "failures": failures,
                          "conflicts": conflicts}, indent=2))
        return 0
    table = Table(title=f"sak plugins (plugin API {API_VERSION})")
    columns = ("kind", "name", "distribution", "version", "api", "description")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    console.print(table)
    if not rows:
        console.print("no plugins installed: pip install teacher and task plugins (sak-teacher-NAME, "
                      "sak-task-NAME; docs/teachers.md and docs/tasks.md list sak's own)")
    for f in failures:
        Console(stderr=True).print(
            f"plugin '{f['distribution']}' failed to load ({f['entry_point']}): {f['error']}",
            style="yellow", highlight=False, markup=False,
        )
    for c in conflicts:
        Console(stderr=True).print(f"conflict: {c['message']}; commands that use it fail until then",
                                   style="yellow", highlight=False, markup=False, soft_wrap=True)
    return 0

"""`sak describe KIND NAME`: the spec of one teacher, task or dataset."""

from __future__ import annotations

import argparse
import dataclasses

from rich.console import Console
from rich.table import Table

from sak_core.plugin.lookup import split_variant
from sak_core.plugin.registry import KINDS, get_registry


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "describe",
        help="show the spec of a teacher, task or dataset",
        description="Show what a plugin registered under NAME: widths, tap levels, input size, "
        "normalisation and weight sources for a teacher; outputs, loss weight and metric for a "
        "task; tasks, input size and splits for a dataset.",
    )
    parser.add_argument("kind", choices=sorted(KINDS), help="teacher, task or dataset")
    parser.add_argument("name", help="registry name as sak plugins lists it, e.g. timm:vit_base_patch16_224")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    registry = get_registry()
    base, options = split_variant(args.name) if args.kind == "teacher" else (args.name, {})
    entry = registry.get(args.kind, base)
    spec = entry.spec.with_options(**options) if options else entry.spec
    table = Table(title=f"{args.kind} {args.name}  ({entry.distribution} {entry.version})".rstrip())
    table.add_column("field")
    table.add_column("value")
    for field in dataclasses.fields(spec):
        if field.name in {"factory", "configure"}:
            continue
        table.add_row(field.name, str(getattr(spec, field.name)))
    Console().print(table)
    return 0

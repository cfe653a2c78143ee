"""`sak analyze`: look inside a trained student (``sak analyze routers``: mean expert weights)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sak_core.cli.options import add_overwrite_option, add_runtime_options, positive_int, resolve_runtime
from sak_core.errors import SakError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "analyze", help="analyse a trained student (routers)",
        description="Look inside a trained student. No teacher is needed.",
    )
    commands = parser.add_subparsers(title="analyses", metavar="ANALYSIS")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    routers = commands.add_parser(
        "routers",
        help="plot the mean expert weight per task and level (the SAK paper's Figure 4)",
        description="Average the routers' eval-mode expert weights (the stem and each teacher's "
        "adapter path) over images of a dataset split, per task and tap level; draw them as "
        "stacked bars in a PNG and write the numbers beside it as JSON.",
    )
    routers.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT",
                         help="run directory, .safetensors file or Hub student hf://ORG/NAME[@REVISION]")
    routers.add_argument("--dataset", help="dataset whose images are routed, or the key (alias) of one of the "
                         "run's datasets (default: the run's first)")
    routers.add_argument("--data-root", help="dataset root (default: the run's)")
    routers.add_argument("--split", help="split (default: the run's data.val_split, else val)")
    routers.add_argument("--limit", type=positive_int, default=256, help="images to average over (default 256)")
    routers.add_argument("--batch-size", type=positive_int, default=8, help="images per forward (default 8)")
    add_runtime_options(routers)
    routers.add_argument("--out", help="PNG path (default: routers.png in the run's eval/step-<N>/ folder, else "
                         "beside the checkpoint); numbers go to .json")
    add_overwrite_option(routers, "the --out PNG or its .json")
    routers.set_defaults(func=run_routers)


def run_routers(args: argparse.Namespace) -> int:
    import torch

    from sak_core.plugin.lookup import list_datasets
    from sak_core.evaluation import (
        RunContext,
        collate_samples,
        render_router_chart,
        router_summary,
    )
    from sak_core.runtime.files import check_output, staged_writes

    console = Console()
    context = RunContext.open(args.checkpoint)
    for note in context.notes:
        Console(stderr=True).print(f"note: {note}", style="yellow", highlight=False, markup=False)
    dataset = context.run_dataset(args.dataset)  # the run's (first) dataset, or --dataset's
    if dataset is None:
        raise context.unknown_dataset(list_datasets())
    if args.out and Path(args.out).suffix.lower() != ".png":
        raise SakError(f"--out {args.out}: give a .png path (the numbers go beside it, as .json)")
    if context.several_datasets and not args.dataset:
        keys = ", ".join(entry.key for entry in context.dataset_entries())
        Console(stderr=True).print(f"note: routing the images of {dataset.key}, the first of the run's datasets "
                                   f"({keys}); --dataset KEY routes another's", highlight=False)
    device, precision = resolve_runtime(args, console)
    student = context.load_student(device)
    png = Path(args.out) if args.out else context.results_folder() / "routers.png"  # named by the step loaded
    numbers = png.with_suffix(".json")
    for target in (png, numbers):  # the default place is sak's own: replaced there
        check_output(target, reads=context.files_read(), overwrite=args.overwrite or args.out is None)
    split = context.split(args.split)
    data = context.test_data(dataset, split, [], student.config.input_size, args.data_root)
    loader = torch.utils.data.DataLoader(data, batch_size=args.batch_size, collate_fn=collate_samples)
    summary = router_summary(student, loader, device, limit=args.limit, source=f"{dataset.key}/{split}",
                             precision=precision)
    chart = render_router_chart(summary)
    with staged_writes() as stage:  # the chart and its numbers as one
        chart.image.save(stage(png), format="PNG")
        stage(numbers).write_text(json.dumps(summary.to_dict(), indent=2) + "\n")

    table = Table(title=f"mean expert weight ({summary.num_images} images of {summary.source})")
    table.add_column("task")
    table.add_column("level")
    for expert in summary.experts:
        table.add_column(expert, justify="right")
    for t, task in enumerate(summary.tasks):
        for l, block in enumerate(summary.levels):
            table.add_row(task, f"{l} (block {block})", *(f"{w:.3f}" for w in summary.weights[t, l]))
    console.print(table)
    console.print(f"wrote {png} and {numbers}", soft_wrap=True)
    return 0

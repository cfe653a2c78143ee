"""`sak eval`: score a trained student on a dataset split with every task's metric, and dm."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sak_core.cli.options import (
    absolute_path,
    add_overwrite_option,
    add_runtime_options,
    non_negative_int,
    positive_int,
    resolve_runtime,
)
from sak_core.errors import SakError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score a trained student on a dataset split (metrics table, dm, metrics.json)",
        description="Score a student on a dataset split with every task's dataset-level metric, "
        "print a table with the multi-task gain (dm) against a baseline table, and write "
        "metrics.json. Dataset, data root and dataset options default to the run's config.yaml. "
        "No teacher is needed, except for a stage-1 student (no task heads): it is scored against "
        "its run's teachers (cosine and centred cosine per teacher and tap level).",
    )
    parser.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT",
                        help="run directory, .safetensors file or Hub student hf://ORG/NAME[@REVISION]")
    parser.add_argument("--dataset", help="dataset name (default: the run's)")
    parser.add_argument("--data-root", help="dataset root (default: the run's data.root, $SAK_DATA or the dataset's)")
    parser.add_argument("--split", help="split to score (default: the run's data.val_split, else val)")
    parser.add_argument("--tasks", help="comma-separated subset of the student's tasks (default: all the dataset has)")
    parser.add_argument(
        "--baseline",
        metavar="TABLE",
        help="baseline table for dm: a shipped name (e.g. pascal_context_vit_b) or a YAML file",
    )
    parser.add_argument("--batch-size", type=positive_int, default=4, help="images per forward (default 4)")
    parser.add_argument("--workers", type=non_negative_int, help="data loader workers (default: the run's data.workers, else 2)")
    add_runtime_options(parser)
    parser.add_argument(
        "--fast",
        action="store_true",
        help="use each task's training-time metric instead of its protocol metric (boundaries: "
        "approximate F instead of odsF)",
    )
    parser.add_argument(
        "--metric-option",
        action="append",
        default=[],
        metavar="TASK.KEY=VALUE",
        type=parse_metric_option,
        help="an option of TASK's protocol metric (repeatable; VALUE is YAML), e.g. "
        "boundaries.matching=exact for the faster upper-bound odsF matching; each task plugin's "
        "README lists its options",
    )
    parser.add_argument("--limit", type=positive_int, help="score only the first N images (a quick look, not a result)")
    parser.add_argument(
        "--out", help="metrics file, or folder for metrics.json (default: RUN/eval/step-<N>/ for a run's "
        "checkpoint, else beside the checkpoint)"
    )
    add_overwrite_option(parser, "the --out metrics file (the default file of a step is always replaced)")
    parser.add_argument("--all-metrics", action="store_true", help="also list each task's secondary scores")
    parser.add_argument("--json", action="store_true", help="print the metrics document as JSON instead of a table")
    parser.set_defaults(func=run)


def parse_metric_option(text: str) -> tuple[str, str, Any]:
    """``"boundaries.matching=exact"`` -> ``("boundaries", "matching", "exact")`` (VALUE as YAML)."""
    key, sep, raw = text.partition("=")
    task, dot, option = key.strip().partition(".")
    if not sep or not dot or not task or not option:
        raise argparse.ArgumentTypeError(f"'{text}' is not TASK.KEY=VALUE (e.g. boundaries.matching=exact)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise argparse.ArgumentTypeError(f"'{text}': the value is not valid YAML ({exc})") from None
    return task, option, value


def _metric_options(given: list[tuple[str, str, Any]], scored: list[str], fast: bool) -> dict[str, dict[str, Any]]:
    """The ``--metric-option`` values as task -> {key: value}, refused for tasks not scored
    and with ``--fast`` (whose training-time metrics take no options)."""
    options: dict[str, dict[str, Any]] = {}
    for task, key, value in given:
        options.setdefault(task, {})[key] = value
    if options and fast:
        raise SakError("--metric-option sets options of protocol metrics, which --fast does not use: drop one of them")
    unknown = [task for task in options if task not in scored]
    if unknown:
        raise SakError(f"--metric-option names {', '.join(unknown)}, which is not scored here "
                       f"(scored: {', '.join(scored)})")
    return options


def run(args: argparse.Namespace) -> int:
    from sak_core.plugin.lookup import get_dataset_spec, list_datasets, list_tasks
    from sak_core.evaluation import (
        RunContext,
        bind_tasks,
        evaluate,
        metrics_document,
        metrics_path,
        results_table,
        supported_tasks,
        write_metrics,
    )
    from sak_core.evaluation.report import alignment_table
    from sak_core.evaluation.scoring import same_dataset
    from sak_core.runtime.files import check_output

    console = Console(stderr=args.json)
    notes = Console(stderr=True)
    context = RunContext.open(args.checkpoint)
    for note in context.notes:
        notes.print(f"note: {note}", style="yellow", highlight=False, markup=False)
    dataset_name = context.dataset_name(args.dataset)
    if dataset_name is None:
        raise context.unknown_dataset(list_datasets())
    dataset = get_dataset_spec(dataset_name)
    device, precision = resolve_runtime(args, notes)
    student = context.load_student(device)
    limited = args.limit is not None
    target = metrics_path(context.checkpoint, args.out, limited=limited, folder=context.results_folder())
    check_output(target, reads=context.files_read(), overwrite=args.overwrite or args.out is None)
    teachers = _stage1_teachers(context, dataset.name, device, precision, notes) if not student.task_names else None
    scored, skipped = supported_tasks(student, dataset) if teachers is None else ([], [])
    if args.tasks:
        wanted = [t.strip() for t in args.tasks.split(",") if t.strip()]
        unknown = [t for t in wanted if t not in student.task_names]
        if unknown:
            raise SakError(f"the student has no head for {', '.join(unknown)}; it has {', '.join(student.task_names)}")
        unlabelled = [t for t in wanted if t not in scored]
        if unlabelled:
            raise SakError(f"dataset '{dataset.name}' has no labels for {', '.join(unlabelled)}")
        skipped += [t for t in scored if t not in wanted]
        scored = wanted
    if not scored and teachers is None:
        raise SakError(
            f"dataset '{dataset.name}' has labels for none of the student's tasks "
            f"({', '.join(student.task_names)}): pass the dataset the student was trained on"
        )
    installed = set(list_tasks())
    uninstalled = [t for t in skipped if t not in installed]
    if uninstalled:
        notes.print(f"note: not scoring {', '.join(uninstalled)}: no installed plugin provides it, and "
                    f"'{dataset.name}' has no labels under that name; install the task's plugin (`sak plugins` "
                    "lists what is installed)", highlight=False)
    skipped = [t for t in skipped if t not in uninstalled]
    if skipped:
        notes.print(f"note: not scoring {', '.join(skipped)} (no labels in '{dataset.name}' or not asked for)")
    tasks = bind_tasks(student, dataset, scored, context) if scored else {}
    split = context.split(args.split)
    data = context.test_dataset(dataset, split, scored, student.config.input_size, args.data_root)
    workers = args.workers if args.workers is not None else (context.config.data.workers if context.config else 2)
    total = len(data) if args.limit is None else min(len(data), args.limit)
    metric_options = _metric_options(args.metric_option, scored, args.fast)

    show_progress = console.is_terminal and not args.json
    progress = Progress(
        TextColumn(f"scoring {dataset.name}/{split}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not show_progress,
    )
    with progress:
        bar = progress.add_task("eval", total=total)
        result = evaluate(
            student, tasks, data, device=device, batch_size=args.batch_size, workers=workers,
            full=not args.fast, precision=precision, limit=args.limit,
            progress=lambda done: progress.update(bar, completed=done), metric_options=metric_options,
            teachers=teachers, distill_valid_region=context.config.optim.distill_valid_region if teachers else True,
        )

    gain = None
    if args.baseline:
        gain = _gain(result, tasks, args.baseline, notes)
    if gain is not None and not same_dataset(gain.dataset, dataset.name):
        notes.print(f"note: baseline '{gain.baseline}' was measured on {gain.dataset}, but this scores "
                    f"'{dataset.name}': its dm compares different data; pass the table of this dataset",
                    style="yellow", highlight=False)
    document = metrics_document(
        result,
        tasks,
        gain,
        checkpoint=str(context.checkpoint),
        run_dir=str(context.run_dir) if context.run_dir else None,
        dataset=dataset.name,
        data_root=absolute_path(root) if (root := context.data_root(dataset.name, args.data_root)) else None,
        split=split,
        input_size=list(student.config.input_size),
        precision=precision.name,
        limited=args.limit is not None,
    )
    path = write_metrics(document, target)
    if args.json:
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    title = f"{dataset.name} / {split}: {result.num_images} images, {result.protocol} protocol"
    for task, options in result.metric_options.items():
        title += f", {task} " + " ".join(f"{key}={value}" for key, value in options.items())
    if teachers:
        console.print(alignment_table(result, title=title + ", against the run's teachers"))
    else:
        console.print(results_table(result, tasks, gain, title=title, all_metrics=args.all_metrics))
    if gain is not None and gain.missing:
        console.print(
            f"dm covers {len(gain.gains)} of {len(result.metrics)} tasks: baseline '{gain.baseline}' "
            f"has no entry for {', '.join(gain.missing)}"
        )
    if gain is None and tasks:
        console.print("no dm: pass --baseline TABLE (see docs/evaluation.md for the shipped tables)", style="dim")
    if args.limit is not None:
        console.print(f"scored only {result.num_images} images (--limit): not a comparable result", style="yellow")
    console.print(f"wrote {path}", soft_wrap=True)
    return 0


def _stage1_teachers(context, dataset: str, device, precision, notes: Console) -> dict:
    """The teachers a student without task heads (stage 1) is scored against: its run's, built as
    training builds them (fed ``dataset``'s normalisation), in ``precision`` where they declare it."""
    from sak_core.training.loop import build_teachers

    config = context.config
    if config is None or not config.teachers:
        raise SakError(
            f"{context.checkpoint} has no task heads (a stage-1 student) and no run config.yaml that names its "
            "teachers, so there is nothing to score it against: pass its run directory, or train stage 2 from "
            "it first (e.g. sak train --preset paper-pascal --init RUN)"
        )
    names = ", ".join(entry.name for entry in config.teachers)
    notes.print(f"note: a stage-1 student (no task heads): scoring its maps against the run's teachers ({names})",
                highlight=False, markup=False)
    config = config.model_copy(update={"data": config.data.model_copy(update={"dataset": dataset})})
    return build_teachers(config, device, precision)


def _gain(result, tasks, baseline, notes: Console):
    """dm against ``baseline``, or None with a note when sak_core.evaluation.multitask_gain is missing."""
    try:
        import sak_core.evaluation.multitask_gain  # noqa: F401
    except ImportError:
        notes.print("note: this sak-core has no multitask_gain module; dm skipped", style="yellow")
        return None
    from sak_core.evaluation import gain_summary

    return gain_summary(result.metrics, tasks, baseline)

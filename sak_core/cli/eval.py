"""`sak eval`: score a trained student on a dataset split with every task's metric, and dm."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
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
        "metrics.json. Dataset, data root and dataset options default to the run's config.yaml; a run "
        "with several datasets scores each on the tasks it labels, into one metrics.json keyed by dataset. "
        "No teacher is needed, except for a stage-1 student (no task heads): it is scored against "
        "its run's teachers (cosine and centred cosine per teacher and tap level).",
    )
    parser.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT",
                        help="run directory, .safetensors file or Hub student hf://ORG/NAME[@REVISION]")
    parser.add_argument("--dataset", help="dataset name, or the key (alias) of one of the run's datasets "
                        "(default: the run's, each of them when it has several)")
    parser.add_argument("--data-root", help="dataset root (default: the run's data.root, $SAK_DATA or the dataset's)")
    parser.add_argument("--split", help="split to score (default: the run's data.val_split, else val)")
    parser.add_argument("--tasks", help="comma-separated subset of the student's tasks (default: all the dataset has)")
    parser.add_argument(
        "--baseline",
        action="append",
        metavar="TABLE",
        help="baseline table for dm: a shipped name (e.g. pascal_context_vit_b) or a YAML file; with several "
        "datasets it applies to those it was measured on, and KEY=TABLE gives dataset KEY its table (repeatable)",
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
    from sak_core.plugin.lookup import list_datasets
    from sak_core.evaluation import RunContext, metrics_path, write_metrics
    from sak_core.evaluation.scoring import same_dataset
    from sak_core.runtime.files import check_output

    console = Console(stderr=args.json)
    notes = Console(stderr=True)
    context = RunContext.open(args.checkpoint)
    for note in context.notes:
        notes.print(f"note: {note}", style="yellow", highlight=False, markup=False)
    if context.several_datasets and not args.dataset:
        return _run_several(args, context, console, notes)
    dataset = context.run_dataset(args.dataset)
    if dataset is None:
        raise context.unknown_dataset(list_datasets())
    spec = dataset.spec
    # an entry of a run with several datasets: padded to its own size, as validation did, and its
    # results beside the run's all-datasets metrics.json (RUN/eval/step-<N>/KEY/), never over it
    entry_of_several = context.several_datasets and context.dataset_entry(args.dataset) is not None
    device, precision = resolve_runtime(args, notes)
    student = context.load_student(device)
    input_size = tuple(dataset.input_size) if entry_of_several else tuple(student.config.input_size)
    folder = context.results_folder() / dataset.key if context.several_datasets else context.results_folder()
    target = metrics_path(context.checkpoint, args.out, limited=args.limit is not None, folder=folder)
    check_output(target, reads=context.files_read(), overwrite=args.overwrite or args.out is None)
    table = _single_baseline(args.baseline, dataset)
    wanted = _wanted_tasks(args, student)
    teachers = _stage1_teachers(context, args.dataset, device, precision, notes) if not student.task_names else None
    heads = _scored_heads(student, dataset, wanted, notes) if teachers is None else {}
    tasks = _bind(student, spec, heads, context)
    split = context.split(args.split)
    data = context.test_data(dataset, split, list(heads.values()), input_size, args.data_root)
    metric_options = _metric_options(args.metric_option, list(heads), args.fast)
    result = _score(args, context, student, tasks, heads, data, f"{dataset.key}/{split}", device, precision,
                    teachers, metric_options, console)

    gain = _gain(result, tasks, table, notes) if table else None
    if gain is not None and not same_dataset(gain.dataset, spec.name):
        notes.print(f"note: baseline '{gain.baseline}' was measured on {gain.dataset}, but this scores "
                    f"'{spec.name}': its dm compares different data; pass the table of this dataset",
                    style="yellow", highlight=False)
    document = _document(context, dataset, result, tasks, gain, args.data_root or dataset.root, split, input_size,
                         precision, args,
                         key=dataset.key if context.several_datasets else None)
    path = write_metrics(document, target)
    if args.json:
        _print_json(document)
        return 0
    _print_result(console, result, tasks, gain, _title(_label(dataset), split, result), args, bool(teachers))
    if gain is None and tasks:
        console.print("no dm: pass --baseline TABLE (see docs/evaluation.md for the shipped tables)", style="dim")
    _print_end(console, args, result.num_images, path)
    return 0


def _run_several(args: argparse.Namespace, context, console: Console, notes: Console) -> int:
    """``sak eval`` of a run with several datasets (no ``--dataset``): each dataset scored on its
    own split with its own tasks, into one metrics.json keyed by dataset key."""
    from sak_core.evaluation import gain_summary, metrics_path, write_metrics
    from sak_core.evaluation.report import datasets_document
    from sak_core.evaluation.scoring import same_dataset
    from sak_core.runtime.files import check_output

    if args.data_root:
        keys = ", ".join(entry.key for entry in context.dataset_entries())
        raise SakError(f"--data-root names one dataset's folder, but this run has several ({keys}): score one with "
                       "--dataset KEY --data-root DIR, or set each dataset's root in the run's config.yaml")
    split = context.split(args.split)
    datasets = _with_split(context.run_datasets(), split, notes)
    device, precision = resolve_runtime(args, notes)
    student = context.load_student(device)
    target = metrics_path(context.checkpoint, args.out, limited=args.limit is not None,
                          folder=context.results_folder())
    check_output(target, reads=context.files_read(), overwrite=args.overwrite or args.out is None)
    _wanted_tasks(args, student)  # a --tasks the student has no head for is refused first (stage 1: any)
    teachers = _stage1_teachers(context, None, device, precision, notes) if not student.task_names else None
    plan = {d.key: {} for d in datasets} if teachers is not None else _plan_several(student, datasets, args, notes)
    scored = {d.key: d for d in datasets if d.key in plan}
    tables = _several_baselines(args.baseline or [], list(scored.values()), [d.key for d in datasets], notes)
    every = [t for heads in plan.values() for t in heads]
    options = _metric_options(args.metric_option, list(dict.fromkeys(every)), args.fast)
    documents, shown = {}, []
    for key, heads in plan.items():
        dataset = scored[key]
        tasks = _bind(student, dataset.spec, heads, context)
        data = context.test_data(dataset, split, list(heads.values()))
        result = _score(args, context, student, tasks, heads, data, f"{key}/{split}", device, precision, teachers,
                        {t: o for t, o in options.items() if t in heads}, console)
        gain = gain_summary(result.metrics, tasks, tables[key]) if key in tables and tasks else None
        if gain is not None and not same_dataset(gain.dataset, dataset.name):
            notes.print(f"note: baseline '{gain.baseline}' was measured on {gain.dataset}, but {key} is "
                        f"{dataset.describe()}: its dm compares different data", style="yellow", highlight=False)
        documents[key] = _document(context, dataset, result, tasks, gain, dataset.root, split,
                                   dataset.input_size, precision, args, key=key)
        shown.append((result, tasks, gain, _title(_label(dataset), split, result)))
    document = datasets_document(
        documents, checkpoint=str(context.checkpoint), run_dir=str(context.run_dir) if context.run_dir else None,
        step=context.step, split=split, precision=precision.name, limited=args.limit is not None,
    )
    path = write_metrics(document, target)
    if args.json:
        _print_json(document)
        return 0
    for result, tasks, gain, title in shown:
        _print_result(console, result, tasks, gain, title, args, bool(teachers))
    if document["dm"] is not None:
        console.print(f"dm, the mean over {', '.join(document['dm_datasets'])}: {document['dm']:+.2f}")
    elif teachers is None:
        console.print("no dm: pass --baseline TABLE or --baseline KEY=TABLE (see docs/evaluation.md)", style="dim")
    _print_end(console, args, document["num_images"], path)
    return 0


def _with_split(datasets, split: str, notes: Console) -> list:
    """The datasets that have ``split``; the others named in a note (none left: an error)."""
    kept = [d for d in datasets if not d.spec.splits or split in d.spec.splits]
    for dataset in datasets:
        if dataset.key not in {d.key for d in kept}:
            notes.print(f"note: not scoring {dataset.key}: {dataset.describe()} has no split '{split}' (its splits: "
                        f"{', '.join(dataset.spec.splits)}; --split chooses another)", highlight=False)
    if not kept:
        raise SakError(f"none of the run's datasets has a split '{split}': choose one with --split")
    return kept


def _wanted_tasks(args: argparse.Namespace, student) -> list[str] | None:
    """The ``--tasks`` subset as task names (None: all): each a head of the student, or the task
    of its heads for one dataset (``semseg`` for ``semseg@nyud``)."""
    from sak_core.model.mixture import task_of_head

    if not args.tasks:
        return None
    wanted = [t.strip() for t in args.tasks.split(",") if t.strip()]
    tasks = {task_of_head(head) for head in student.task_names}
    unknown = [t for t in wanted if t not in student.task_names and t not in tasks]
    if unknown:
        raise SakError(f"the student has no head for {', '.join(unknown)}; it has {', '.join(student.task_names)}")
    return list(dict.fromkeys(task_of_head(t) for t in wanted))


def _dataset_heads(student, dataset) -> tuple[dict[str, str], list[str]]:
    """Task -> the student's head scored on ``dataset`` (a RunDataset): its own ``TASK@KEY``, else
    the shared ``TASK`` head of a task it labels; and the heads left out (another dataset's, a
    task it does not label, or one no installed plugin provides)."""
    from sak_core.evaluation import supported_tasks
    from sak_core.model.mixture import dataset_of_head, task_of_head

    labelled = supported_tasks(student, dataset.spec)[0]
    heads: dict[str, str] = {}
    for head in student.task_names:
        key, task = dataset_of_head(head), task_of_head(head)
        if head in labelled and (key == dataset.key or (key is None and task not in heads)):
            heads[task] = head
    return heads, [h for h in student.task_names if h not in heads.values()]


def _scored_heads(student, dataset, wanted: list[str] | None, notes: Console) -> dict[str, str]:
    """Task -> head that ``dataset`` (a RunDataset) is scored on: the tasks it labels (of
    ``wanted``); the others named in a note, an asked-for task it does not label an error."""
    heads, skipped = _dataset_heads(student, dataset)
    who = dataset.describe()
    if wanted is not None:
        unlabelled = [t for t in wanted if t not in heads]
        if unlabelled:
            raise SakError(f"dataset {who} has no labels for {', '.join(unlabelled)}")
        skipped += [heads[t] for t in heads if t not in wanted]
        heads = {t: heads[t] for t in wanted}
    if not heads:
        raise SakError(
            f"dataset {who} has labels for none of the student's tasks "
            f"({', '.join(student.task_names)}): pass the dataset the student was trained on"
        )
    uninstalled = _uninstalled(skipped, notes, f"{who} has")
    skipped = [t for t in skipped if t not in uninstalled]
    if skipped:
        notes.print(f"note: not scoring {', '.join(skipped)} (no labels in {who} or not asked for)")
    return heads


def _uninstalled(heads: list[str], notes: Console, who: str) -> list[str]:
    """The heads of ``heads`` whose task no installed plugin provides, named in a note."""
    from sak_core.model.mixture import task_of_head
    from sak_core.plugin.lookup import list_tasks

    installed = set(list_tasks())
    uninstalled = [h for h in heads if task_of_head(h) not in installed]
    if uninstalled:
        notes.print(f"note: not scoring {', '.join(uninstalled)}: no installed plugin provides it, and "
                    f"{who} no labels under that name; install the task's plugin (`sak plugins` "
                    "lists what is installed)", highlight=False)
    return uninstalled


def _plan_several(student, datasets, args: argparse.Namespace, notes: Console) -> dict[str, dict[str, str]]:
    """Dataset key -> {task: head} it is scored on: the tasks it labels (of ``--tasks``), each on
    the head that serves it. A dataset left with none is named in a note; a task no dataset
    labels is an error."""
    wanted = _wanted_tasks(args, student)
    labelled = {d.key: _dataset_heads(student, d)[0] for d in datasets}
    everywhere = {head for heads in labelled.values() for head in heads.values()}
    _uninstalled([h for h in student.task_names if h not in everywhere], notes, "none of the run's datasets has")
    if wanted is not None:
        unlabelled = [t for t in wanted if not any(t in heads for heads in labelled.values())]
        if unlabelled:
            has = "; ".join(f"{d.describe()} has {', '.join(labelled[d.key]) or 'none'}" for d in datasets)
            raise SakError(f"no dataset of the run has labels for {', '.join(unlabelled)} ({has})")
    plan: dict[str, dict[str, str]] = {}
    for dataset in datasets:
        heads = {t: h for t, h in labelled[dataset.key].items() if wanted is None or t in wanted}
        if heads:
            plan[dataset.key] = heads
        else:
            why = f"labels none of --tasks {args.tasks}" if wanted is not None else \
                "labels none of the student's tasks"
            notes.print(f"note: not scoring {dataset.key}: {dataset.describe()} {why}", highlight=False)
    if not plan:
        raise SakError(f"none of the run's datasets labels the student's tasks ({', '.join(student.task_names)})")
    if any(list(heads.values()) != list(student.task_names) for heads in plan.values()):
        each = "; ".join(f"{key}: {', '.join(heads.values())}" for key, heads in plan.items())
        notes.print(f"note: each dataset is scored on the tasks it labels ({each})", highlight=False)
    return plan


def _bind(student, spec, heads: dict[str, str], context) -> dict:
    """Task -> its head's task plugin bound to ``spec`` (its class names, its boundary tolerance)."""
    from sak_core.evaluation import bind_tasks

    bound = bind_tasks(student, spec, list(heads.values()), context) if heads else {}
    return {task: bound[head] for task, head in heads.items()}


def _score(args: argparse.Namespace, context, student, tasks, heads: dict[str, str], data, label: str, device,
           precision, teachers, metric_options, console: Console):
    """``evaluate`` of ``tasks`` (task -> Task) on their ``heads`` (task -> head), with a progress
    bar named ``label``; the result's scores keyed by task."""
    from sak_core.evaluation import evaluate
    from sak_core.model.mixture import task_of_head

    workers = args.workers if args.workers is not None else (context.config.data.workers if context.config else 2)
    total = len(data) if args.limit is None else min(len(data), args.limit)
    show_progress = console.is_terminal and not args.json
    progress = Progress(
        TextColumn(f"scoring {label}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True, disable=not show_progress,
    )
    with progress:
        bar = progress.add_task("eval", total=total)
        result = evaluate(
            student, {heads[t]: task for t, task in tasks.items()}, data, device=device, batch_size=args.batch_size,
            workers=workers, full=not args.fast, precision=precision, limit=args.limit,
            progress=lambda done: progress.update(bar, completed=done),
            metric_options={heads[t]: o for t, o in metric_options.items()},
            teachers=teachers, distill_valid_region=context.config.optim.distill_valid_region if teachers else True,
        )
    result.metrics = {task_of_head(head): scores for head, scores in result.metrics.items()}
    result.metric_options = {task_of_head(head): o for head, o in result.metric_options.items()}
    return result


def _document(context, dataset, result, tasks, gain, root: str | None, split: str, input_size, precision,
              args: argparse.Namespace, key: str | None = None) -> dict[str, Any]:
    """One dataset's metrics document; ``key`` (the dataset's key in a run with several) recorded
    as ``dataset_key``."""
    from sak_core.evaluation import metrics_document

    where: dict[str, Any] = {
        "checkpoint": str(context.checkpoint),
        "run_dir": str(context.run_dir) if context.run_dir else None,
        "dataset": dataset.name,
        **({"dataset_key": key} if key is not None else {}),
        "data_root": absolute_path(root) if root else None,
        "split": split,
        "input_size": list(input_size),
        "precision": precision.name,
        "limited": args.limit is not None,
    }
    return metrics_document(result, tasks, gain, **where)


def _label(dataset) -> str:
    """``"nyud"``, or ``"synth-b (synthetic)"`` for an entry with an alias: how tables name it."""
    return dataset.key if dataset.key == dataset.name else f"{dataset.key} ({dataset.name})"


def _title(name: str, split: str, result) -> str:
    title = f"{name} / {split}: {result.num_images} images, {result.protocol} protocol"
    for task, options in result.metric_options.items():
        title += f", {task} " + " ".join(f"{key}={value}" for key, value in options.items())
    return title


def _print_result(console: Console, result, tasks, gain, title: str, args: argparse.Namespace,
                  against_teachers: bool) -> None:
    from sak_core.evaluation import results_table
    from sak_core.evaluation.report import alignment_table

    if against_teachers:
        console.print(alignment_table(result, title=title + ", against the run's teachers"))
    else:
        console.print(results_table(result, tasks, gain, title=title, all_metrics=args.all_metrics))
    if gain is not None and gain.missing:
        console.print(
            f"dm covers {len(gain.gains)} of {len(result.metrics)} tasks: baseline '{gain.baseline}' "
            f"has no entry for {', '.join(gain.missing)}"
        )


def _print_json(document: dict[str, Any]) -> None:
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _print_end(console: Console, args: argparse.Namespace, num_images: int, path) -> None:
    if args.limit is not None:
        console.print(f"scored only {num_images} images (--limit): not a comparable result", style="yellow")
    console.print(f"wrote {path}", soft_wrap=True)


def _split_baseline(text: str) -> tuple[str | None, str]:
    """``--baseline`` ``KEY=TABLE`` -> ``(KEY, TABLE)``; ``TABLE`` -> ``(None, TABLE)`` (a file
    whose name holds '=' stays a table)."""
    from sak_core.config import DATASET_KEY

    key, sep, table = text.partition("=")
    if sep and DATASET_KEY.fullmatch(key) and table and not Path(text).exists():
        return key, table
    return None, text


def _single_baseline(given: list[str] | None, dataset) -> str | None:
    """The one baseline table of a one-dataset score: ``TABLE``, or ``KEY=TABLE`` naming it."""
    if not given:
        return None
    chosen = []
    for text in given:
        key, table = _split_baseline(text)
        if key is not None and key != dataset.key:
            raise SakError(f"--baseline {text}: this scores {dataset.describe()}, not '{key}'; give its table as "
                           f"--baseline TABLE")
        chosen.append(table)
    if len(chosen) > 1:
        raise SakError(f"--baseline given {len(chosen)} times, but this scores one dataset ({dataset.describe()}): "
                       "give one table")
    return chosen[0]


def _several_baselines(given: list[str], scored, keys: list[str], notes: Console) -> dict[str, Any]:
    """Dataset key -> its baseline table: ``KEY=TABLE`` for dataset KEY; a plain ``TABLE`` for the
    scored datasets it was measured on (``same_dataset``), unless KEY=TABLE gave one its own. A
    plain table that fits none of them, two plain tables that fit one, or a KEY not of the run is
    an error."""
    from sak_core.evaluation.multitask_gain import load_baseline
    from sak_core.evaluation.scoring import same_dataset

    keyed: dict[str, Any] = {}
    plain: list[str] = []
    for text in given:
        key, table = _split_baseline(text)
        if key is None:
            plain.append(table)
        elif key not in keys:
            raise SakError(f"--baseline {text}: the run has no dataset '{key}' (its datasets: {', '.join(keys)})")
        elif key in keyed:
            raise SakError(f"--baseline names dataset '{key}' twice: give it one table")
        else:
            keyed[key] = load_baseline(table)
    fitted: dict[str, Any] = {}
    for text in plain:
        table = load_baseline(text)
        fits = [d for d in scored if same_dataset(table.dataset, d.name)]
        if not fits:
            names = ", ".join(d.describe() for d in scored)
            raise SakError(f"baseline '{table.name}' was measured on {table.dataset or 'no named dataset'}, which is "
                           f"none of the datasets scored here ({names}): give it to one with --baseline KEY=TABLE")
        for dataset in fits:
            if dataset.key in fitted and dataset.key not in keyed:
                raise SakError(f"two baseline tables fit {dataset.describe()} ('{fitted[dataset.key].name}' and "
                               f"'{table.name}'): choose one with --baseline {dataset.key}=TABLE")
            fitted[dataset.key] = table
    tables = {**fitted, **keyed}
    without = [d.key for d in scored if d.key not in tables]
    if tables and without:
        notes.print(f"note: no dm for {', '.join(without)}: no --baseline table fits it (--baseline KEY=TABLE "
                    "gives one)", highlight=False)
    return tables


def _stage1_teachers(context, dataset: str | None, device, precision, notes: Console) -> dict:
    """The teachers a student without task heads (stage 1) is scored against: its run's, built as
    training builds them (fed ``dataset``'s normalisation, default the run's), in ``precision``
    where they declare it."""
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
    if dataset is not None and context.dataset_entry(dataset) is None:  # another dataset: its normalisation
        config = config.model_copy(update={"data": config.data.model_copy(update={"dataset": dataset,
                                                                                  "datasets": []})})
    return build_teachers(config, device, precision)


def _gain(result, tasks, baseline: str, notes: Console):
    """dm against ``baseline``, or None with a note when sak_core.evaluation.multitask_gain is missing."""
    try:
        import sak_core.evaluation.multitask_gain  # noqa: F401
    except ImportError:
        notes.print("note: this sak-core has no multitask_gain module; dm skipped", style="yellow")
        return None
    from sak_core.evaluation import gain_summary

    return gain_summary(result.metrics, tasks, baseline)

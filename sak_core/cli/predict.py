"""`sak predict`: per-task prediction files in the reference formats and a PNG grid per image."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from rich.console import Console

from sak_core.cli.options import add_overwrite_option, add_runtime_options, positive_int, resolve_runtime
from sak_core.errors import SakError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict every task for images; write prediction files and a PNG grid per image",
        description="Run a trained student on image files (or on samples of a dataset split, "
        "which adds the ground truth to the grids). Writes OUT/<task>/<name>.<ext> in each task's "
        "reference format and OUT/grid/<name>.png. Images are normalised with the dataset's "
        "mean/std, padded (centred) to the student's input size or the next multiple of 16, "
        "predicted and cropped back to their own size.",
    )
    parser.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT",
                        help="run directory, .safetensors file or Hub student hf://ORG/NAME[@REVISION]")
    parser.add_argument("images", nargs="*", metavar="IMAGE", help="image files or folders of images")
    parser.add_argument("--out", required=True, help="output folder")
    add_overwrite_option(parser, "a prediction file or grid")
    parser.add_argument("--dataset", help="dataset for mean/std and task options, or the key (alias) of one of the "
                        "run's datasets (default: the run's; with several, each task's first that labels it)")
    parser.add_argument("--data-root", help="dataset root, for predicting dataset samples")
    parser.add_argument("--split", help="with no IMAGE: the split to take samples from (default val)")
    parser.add_argument("--ids", nargs="+", metavar="ID", help="with no IMAGE: sample ids to predict")
    parser.add_argument("--limit", type=positive_int, default=4, help="with no IMAGE and no --ids: the first N samples (default 4)")
    parser.add_argument("--tasks", help="comma-separated subset of the student's tasks (default: all)")
    parser.add_argument("--pad", choices=("input", "multiple"), default="input",
                        help="pad to at least the input size (default, as the test protocol) or only to a multiple of 16")
    add_runtime_options(parser)
    parser.add_argument("--no-grid", action="store_true", help="write prediction files only")
    parser.set_defaults(func=run, trailing_positionals="images")  # IMAGE files may also follow the options


def _safe_stem(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "image"


def _bind_to_labelling(student, datasets, names: list[str] | None, context) -> dict:
    """The student's heads (or ``names``) of a run with several datasets, each bound to its dataset
    (a ``TASK@KEY`` head: dataset KEY), else the first of ``datasets`` that labels it (its class
    names), else the first."""
    from sak_core.evaluation import bind_tasks, supported_tasks

    from sak_core.model.mixture import dataset_of_head

    labelled = [supported_tasks(student, d.spec)[0] for d in datasets]
    tasks = {}
    for name in names if names is not None else student.task_names:
        own = [d.spec for d in datasets if d.key == dataset_of_head(name)]  # a head of one dataset, TASK@KEY
        spec = next(iter(own), None) or next(
            (d.spec for d, has in zip(datasets, labelled, strict=True) if name in has), datasets[0].spec)
        tasks.update(bind_tasks(student, spec, [name], context))
    return tasks


def run(args: argparse.Namespace) -> int:
    import torch

    from sak_core.plugin.lookup import get_dataset_spec
    from sak_core.evaluation import RunContext, bind_tasks
    from sak_core.evaluation.prediction import (
        PreparedImage,
        crop_box,
        denormalise,
        expand_image_paths,
        predict_prepared,
        prediction_grid,
        prepare_image,
        read_image,
        save_predictions,
    )
    from sak_core.runtime.files import atomic_write, check_output
    from sak_core.plugin.specs import IMAGENET_MEAN, IMAGENET_STD

    console = Console()
    out = check_output(args.out, folder=True)
    context = RunContext.open(args.checkpoint)
    for note in context.notes:
        console.print(f"note: {note}", style="yellow", highlight=False, markup=False)
    device, precision = resolve_runtime(args, console)
    student = context.load_student(device)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None
    source = context.run_dataset(args.dataset)  # the run's (first) dataset, or --dataset's
    dataset = get_dataset_spec(source.name) if source is not None else None
    if context.several_datasets and not args.dataset:  # each task bound to a dataset that labels it
        tasks = _bind_to_labelling(student, context.run_datasets(), names, context)
    else:
        tasks = bind_tasks(student, dataset, names, context)
    mean, std = (dataset.mean, dataset.std) if dataset else (IMAGENET_MEAN, IMAGENET_STD)

    items = []  # (stem, pixels for the grid, prepared image, targets or None)
    unreadable: list[Path] = []
    paths: list[Path] = []  # the input images: never written over
    if args.images:
        if dataset is None:
            console.print("note: no dataset known (no run config, no --dataset): using ImageNet mean/std", style="yellow")
        used: set[str] = set()
        paths = expand_image_paths(args.images)
        for path in paths:
            try:
                pixels = read_image(path)
            except SakError as exc:  # report it, predict the others
                if len(paths) == 1:
                    raise
                unreadable.append(path)
                console.print(f"skipped: {exc}", style="yellow", highlight=False, markup=False, soft_wrap=True)
                continue
            stem = _safe_stem(path.stem)
            while stem in used:
                stem += "_"
            used.add(stem)
            items.append((stem, pixels, prepare_image(pixels, mean, std, student.config.input_size, args.pad), None))
        if not items:
            none = "no readable image files" if unreadable else "no image files"
            raise SakError(f"{none} in {' '.join(args.images)}")
    else:
        if source is None:
            raise SakError("give IMAGE files, or a dataset (--dataset NAME) to predict samples of a split")
        data = context.test_data(source, context.split(args.split), list(tasks), student.config.input_size,
                                 args.data_root)
        for sample in _select(data, args.ids, args.limit):
            box = tuple(int(v) for v in sample["meta"]["valid_box"])
            prepared = PreparedImage(sample["image"][None], box)
            targets = {n: crop_box(torch.as_tensor(sample[n]), box) for n in tasks if n in sample}
            pixels = denormalise(crop_box(sample["image"], box), dataset.mean, dataset.std)
            items.append((_safe_stem(str(sample["meta"]["id"])), pixels, prepared, targets))

    _check_targets(out, list(tasks), [item[0] for item in items], not args.no_grid,
                   reads=[*paths, *context.files_read()],
                   overwrite=args.overwrite)
    missing_writer: set[str] = set()
    for stem, pixels, prepared, targets in items:
        predictions = predict_prepared(student, tasks, prepared, precision, name=stem)
        written = save_predictions(predictions, tasks, out, stem)
        missing_writer.update(n for n, p in written.items() if p is None)
        line = f"{stem}: {prepared.original_size[0]}x{prepared.original_size[1]} -> " + ", ".join(
            str(p.relative_to(out)) for p in written.values() if p is not None
        )
        if not args.no_grid:
            grid = prediction_grid(pixels, predictions, tasks, targets, title=stem)
            grid_path = out / "grid" / f"{stem}.png"
            atomic_write(grid_path, lambda tmp, grid=grid: grid.save(tmp, format="PNG"))
            line += f", grid/{stem}.png"
        console.print(line, highlight=False)
    for name in sorted(missing_writer):
        console.print(f"note: task '{name}' has no save_prediction(); its predictions were not written", style="yellow")
    console.print(f"wrote {len(items)} image(s) to {out}", soft_wrap=True)
    if unreadable:  # the others are written: one error line names what was not predicted
        raise SakError(f"{len(unreadable)} file(s) could not be read: {', '.join(map(str, unreadable))}; "
                       f"they were skipped (the reason of each is above): fix or remove them and run again")
    return 0


def _check_targets(out: Path, tasks: list[str], stems: list[str], grid: bool, *, reads: list[Path],
                   overwrite: bool) -> None:
    """:func:`sak_core.runtime.files.check_output` for every file the predictions will write, before any is
    written: ``OUT/<task>/<stem>.<suffix>`` (the task's writer picks the suffix, so each file of
    the task folder named ``<stem>`` plus one suffix counts) and ``OUT/grid/<stem>.png``. An input
    image among them is refused even with ``--overwrite``."""
    from sak_core.runtime.files import check_output

    for task in tasks:
        folder = out / task
        existing: dict[str, list[Path]] = {}  # stem -> the task folder's files named stem + one suffix
        if folder.is_dir():
            for path in folder.iterdir():
                existing.setdefault(path.name.rsplit(".", 1)[0], []).append(path)
        for stem in stems:
            for target in existing.get(stem) or [folder / stem]:
                check_output(target, reads=reads, overwrite=overwrite)
    if grid:
        for stem in stems:
            check_output(out / "grid" / f"{stem}.png", reads=reads, overwrite=overwrite)


def _select(data, ids, limit):
    """Samples of ``data`` with the given ids (in that order), or the first ``limit``."""
    if not ids:
        return [data[i] for i in range(min(limit, len(data)))]
    index = {str(sid): i for i, sid in enumerate(getattr(data, "ids", []))}
    samples = {}
    if index:
        for sid in ids:
            if sid in index:
                samples[sid] = data[index[sid]]
    else:  # a dataset without an ids list: look at every sample's meta
        for i in range(len(data)):
            sample = data[i]
            sid = str(sample["meta"]["id"])
            if sid in ids:
                samples[sid] = sample
            if len(samples) == len(ids):
                break
    missing = [sid for sid in ids if sid not in samples]
    if missing:
        raise SakError(f"no sample with id {', '.join(missing)} in this split")
    return [samples[sid] for sid in ids]

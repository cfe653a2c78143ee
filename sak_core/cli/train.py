"""`sak train`: train a student (stage 1 distillation or stage 2 multi-task) from presets, files and flags."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from sak_core.cli.options import absolute_path, positive_int
from sak_core.config import (
    NO_TEACHERS,
    PRECISION_SETTINGS,
    RunConfig,
    build_config,
    config_yaml,
    deep_merge,
    merge_layers,
    parse_dataset_flag,
    parse_override,
    parse_teacher_list,
    read_run_yaml,
    read_yaml,
    split_variant,
)
from sak_core.errors import ConfigError
from sak_core.run.layout import BEST_FOLDER, CHECKPOINTS_FOLDER, CONFIG_FILE, MODEL_FILE
from sak_core.weights.hub import is_hub_ref

RUNS_DIR = Path("runs")

EPILOG = """\
settings are layered: --preset, then --config FILE, then the flags above, then overrides
(KEY=VALUE or --KEY VALUE with dotted keys, e.g. optim.lr=3e-4 or --optim.lr 3e-4).

examples:
  sak train --preset demo
  sak train --stage 1 --teachers teacher_a,teacher_b:large --dataset imagenet --data-root /data/imagenet
  sak train --preset paper-pascal --init runs/stage1 --data-root /data/PASCALContext
  sak train --resume runs/paper-pascal-20250101-120000
  torchrun --nproc_per_node 8 -m sak_core.cli.main train --preset paper-stage1
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a student (stage 1: distillation, stage 2: tasks + distillation)",
        description="Train a SAK student; see docs/training.md.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", metavar="FILE", help="YAML run config")
    p.add_argument("--preset", metavar="NAME", help="paper-stage1, paper-pascal, paper-nyud or demo")
    p.add_argument("--teachers", metavar="SPEC", action="append",
                   help="teachers and their options, NAME[:VARIANT][,KEY=VALUE...] comma-separated, e.g. "
                   "teacher_a,teacher_b:large,input_size=512 (docs/teachers.md); repeatable, a teacher of the "
                   "preset/config keeps its options; 'none': stage 2 without teachers. Each name once")
    p.add_argument("--tasks", metavar="all|A,B", help="task names (each once), or all the dataset has labels for")
    p.add_argument("--dataset", metavar="NAME[,KEY=VALUE...]", action="append",
                   help="registered dataset, e.g. pascal-context, nyud, imagenet, synthetic; repeat it to train on "
                   "several, each with its own alias=, root=, weight=, input_size= and options (labels=[a,b]): "
                   "docs/datasets.md#mixing")
    p.add_argument("--data-root", metavar="DIR", help="the dataset's folder (default: $SAK_DATA/<its folder>)")
    p.add_argument("--teacher-weights", metavar="NAME=PATH", action="append", default=[],
                   help="weights file (or 'random') for one teacher; repeatable")
    p.add_argument("--stage", type=int, choices=(1, 2), help="1: distillation only, 2: tasks + distillation")
    p.add_argument("--init", metavar="PATH", help="start from this checkpoint or run, or a Hub student "
                   "hf://ORG/NAME[@REVISION] (stage 1 -> stage 2)")
    p.add_argument("--strict", action="store_true", help="with --init: fail when any key does not load")
    p.add_argument("--resume", metavar="RUN", nargs="?", const="",
                   help="continue a run from its last checkpoint (default: --out, or the newest run in ./runs)")
    p.add_argument("--out", metavar="DIR", help="run directory (default runs/<preset or stage>-<time>)")
    p.add_argument("--iterations", type=positive_int, metavar="N", help="training length (replaces optim.epochs)")
    p.add_argument("--device", metavar="DEV", help="cpu, cuda, cuda:1 (default: the GPU when there is one)")
    p.add_argument("--precision", choices=PRECISION_SETTINGS,
                   help="optim.precision and optim.teacher_precision together (default auto; fp32 is reference-exact)")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    p.set_defaults(func=run)


def _teacher_layer(names: list[str] | None, weights: list[str], known: Any) -> list[dict[str, Any]] | None:
    """The run's teacher list: a teacher of ``--teachers`` (:func:`~sak_core.config.parse_teacher_list`)
    keeps the options the preset/file gave the teacher of the same NAME (``teacher_a:large`` that of
    ``teacher_a``), its own on top; ``--teacher-weights NAME=PATH`` sets one teacher's weights."""
    entries = parse_teacher_list(known) if isinstance(known, str) else [
        e for item in known for e in (parse_teacher_list(item) if isinstance(item, str) else [dict(item)])]
    if names is not None:
        if len(names) > 1 and any(text.strip().lower() == NO_TEACHERS for text in names):
            raise ConfigError(f"--teachers {NO_TEACHERS} means no teacher at all; it cannot be given with other "
                              "--teachers")
        by_name = {split_variant(e["name"])[0]: e for e in entries}
        entries = [deep_merge(by_name.get(split_variant(e["name"])[0], {}), e)
                   for text in names for e in parse_teacher_list(text)]
    if not weights:
        return entries if names is not None else None
    for item in weights:
        name, sep, path = item.partition("=")
        if not sep or not path:
            raise ConfigError(f"--teacher-weights '{item}' is not NAME=PATH (e.g. teacher_a=~/weights/teacher_a.safetensors)")
        match = [e for e in entries if e["name"] == name]
        if not match:
            listed = ", ".join(e["name"] for e in entries) or "none"
            raise ConfigError(f"--teacher-weights: teacher '{name}' is not in this run (its teachers: {listed})")
        match[0]["weights"] = path if path == "random" else str(Path(path).expanduser())
    return entries


def _dataset_layer(given: list[str], data_root: str | None) -> dict[str, Any]:
    """``--dataset`` (repeatable) and ``--data-root`` as a config layer: one plain ``--dataset NAME``
    sets ``data.dataset``; several, or one with ``KEY=VALUE`` items, set ``data.datasets``."""
    root = str(Path(data_root).expanduser()) if data_root is not None else None
    entries = [parse_dataset_flag(text) for text in given]
    if len(entries) > 1 and root is not None:
        raise ConfigError("--data-root names the folder of a run's one dataset; with several --dataset, give each "
                          "its own: --dataset NAME,root=DIR")
    if len(entries) == 1 and set(entries[0]) <= {"name", "root"}:
        data = {"dataset": entries[0]["name"], **({"root": entries[0]["root"]} if "root" in entries[0] else {})}
        return {"data": {**data, **({"root": root} if root is not None else {})}}
    if entries:
        if root is not None:
            entries[0].setdefault("root", root)
        return {"data": {"datasets": entries}}
    return {"data": {"root": root}} if root is not None else {}


def resolve_config(args: argparse.Namespace) -> tuple[RunConfig, Path, bool]:
    """The run config, the run directory and whether it resumes, from the parsed arguments."""
    from sak_core.presets import get_preset
    from sak_core.training.lock import RunLock
    from sak_core.run.rundir import RunDir

    layers: list[dict[str, Any]] = []
    resume_dir: Path | None = None
    if args.resume is not None:
        resume_dir = _resume_dir(args.resume or args.out)
        layers.append(read_run_yaml(resume_dir / CONFIG_FILE))
    if args.preset:
        layers.append(get_preset(args.preset).as_layer())
    if args.config:
        layers.append(read_yaml(args.config))
    merged = merge_layers(*layers)

    flags: dict[str, Any] = {}
    teachers = _teacher_layer(args.teachers, args.teacher_weights, merged.get("teachers", []))
    if teachers is not None:
        flags["teachers"] = teachers
    if args.tasks is not None:
        flags["tasks"] = args.tasks
    if args.stage is not None:
        flags["stage"] = args.stage
    flags = deep_merge(flags, _dataset_layer(args.dataset or [], args.data_root))
    if args.iterations is not None:
        flags.setdefault("optim", {}).update(iterations=args.iterations, epochs=None)
    if args.precision is not None:
        flags.setdefault("optim", {}).update(precision=args.precision, teacher_precision=args.precision)
    if args.init is not None:
        flags["init"] = args.init
    if args.strict:
        flags["strict_init"] = True
    if args.out is not None and resume_dir is None:
        flags.setdefault("output", {})["dir"] = args.out
    overrides = [parse_override(o) for o in args.overrides]
    sources = [str(resume_dir / CONFIG_FILE)] if resume_dir is not None else []
    sources += [f"preset {args.preset}"] if args.preset else []
    sources += [str(args.config)] if args.config else []
    sources += ["the command line"] if flags or overrides else []
    config = with_absolute_paths(build_config(merged, flags, *overrides,
                                              source=f"config {' + '.join(sources) or '(defaults)'}"))

    if resume_dir is not None:
        return config, resume_dir, True
    run_dir = Path(config.output.dir) if config.output.dir else _default_run_dir(args.preset, config.stage)
    if not args.print_config:
        RunLock(run_dir).check_free()  # a live run is named as such, not as a finished one
    if not args.print_config and RunDir(run_dir).last_checkpoint() is not None:  # else it stopped before one
        raise ConfigError(f"{run_dir} already holds a run: continue it with --resume {run_dir} "
                          "or choose another --out")
    config = config.model_copy(update={"output": config.output.model_copy(update={"dir": str(run_dir)})})
    return config, run_dir, False


def with_absolute_paths(config: RunConfig) -> RunConfig:
    """``config`` with its relative file and folder paths (``data.root``, ``init``, teachers'
    ``weights``, ``model.stem_pretrained``) made absolute, so the run's config.yaml means the
    same files from any working directory (``sak eval RUN`` from elsewhere, ``--resume``)."""
    changes: dict[str, Any] = {}
    if config.data.root:
        changes["data"] = config.data.model_copy(update={"root": absolute_path(config.data.root)})
    if any(e.root for e in config.data.datasets):
        entries = [e.model_copy(update={"root": absolute_path(e.root)}) if e.root else e for e in config.data.datasets]
        changes["data"] = config.data.model_copy(update={"datasets": entries})
    if config.init and not is_hub_ref(config.init):  # hf://ORG/NAME is a name, not a path
        changes["init"] = absolute_path(config.init)
    if any(t.weights not in (None, "random") for t in config.teachers):
        changes["teachers"] = [t.model_copy(update={"weights": absolute_path(t.weights)})
                               if t.weights not in (None, "random") else t for t in config.teachers]
    if isinstance(config.model.stem_pretrained, str):
        stem = absolute_path(config.model.stem_pretrained)
        changes["model"] = config.model.model_copy(update={"stem_pretrained": stem})
    return config.model_copy(update=changes) if changes else config


def _default_run_dir(preset: str | None, stage: int) -> Path:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return RUNS_DIR / f"{preset or f'stage{stage}'}-{stamp}"


def _resume_dir(path: str | None) -> Path:
    if path:
        run = Path(path)
        if not (run / CONFIG_FILE).is_file():
            raise ConfigError(f"--resume {run}: no {CONFIG_FILE} there; is it a sak run directory?")
        return run
    runs = sorted((p for p in RUNS_DIR.glob("*") if (p / CHECKPOINTS_FOLDER).is_dir()), key=lambda p: p.stat().st_mtime)
    if not runs:
        raise ConfigError(f"--resume: no run with checkpoints under ./{RUNS_DIR}; pass the run directory")
    return runs[-1]


def _note_plugin_failures() -> None:
    """Name the plugins that failed to load: a teacher, task or dataset the run lacks may be theirs."""
    from sak_core.plugin.registry import get_registry

    for f in get_registry().failures:
        Console(stderr=True).print(f"note: plugin '{f.distribution}' failed to load ({f.entry_point}): {f.error}; "
                                   "see sak plugins", style="yellow", highlight=False, markup=False, soft_wrap=True)


def _check_demo_plugins(console: Console, config: RunConfig) -> None:
    """The demo needs its teachers (the preset's, or those --teachers gives
    instead) and the synthetic dataset installed."""
    from sak_core.plugin.lookup import list_datasets, list_teachers
    from sak_core.presets.demo import DEMO

    needed = [split_variant(e.name)[0] for e in config.teachers]
    missing = [n for n in needed if n not in list_teachers()]
    if missing:
        raise ConfigError(
            f"the demo needs teacher plugin(s) {', '.join(needed)}; not installed: {', '.join(missing)}. "
            f"Install them with pip install -e plugins/teachers/<name> (./dev setup installs every plugin)"
        )
    if DEMO["data"]["dataset"] not in list_datasets():
        raise ConfigError("the demo needs the built-in 'synthetic' dataset, which is not registered; "
                          "reinstall sak-core (./dev setup)")
    names = list(dict.fromkeys(e.name for e in config.data.entries()))
    data = "synthetic scenes" if names == [DEMO["data"]["dataset"]] else f"dataset(s) {', '.join(names)}"
    console.print(f"[bold]demo[/bold]: tiny {', '.join(needed) or 'no teachers'} with [yellow]random weights[/yellow] "
                  f"(their features teach little; real runs load the released weights), {data}, a tiny stem. "
                  "Scores the untrained student, trains it, scores it again.")


def _per_dataset(config: RunConfig, start: dict[str, float], end: dict[str, float]
                 ) -> dict[str, tuple[dict[str, float], dict[str, float]]]:
    """Validation scores by dataset key: a run's one dataset has them unprefixed; with several,
    ``KEY/task/metric`` becomes ``task/metric`` under ``KEY`` (those a dataset was not scored on left out)."""
    keys = [e.key for e in config.data.entries()]
    if len(keys) == 1:
        return {keys[0]: (start, end)}
    split = {}
    for key in keys:
        part = [{k[len(key) + 1:]: v for k, v in d.items() if k.startswith(key + "/")} for d in (start, end)]
        if part[1]:
            split[key] = (part[0], part[1])
    return split


def run(args: argparse.Namespace) -> int:
    from sak_core.training import TrainingInterrupted, train
    from sak_core.training.reporting import make_console
    from sak_core.training.summary import improved_tasks, improved_teachers, scores_table

    stray = [o for o in args.overrides if "=" not in o]
    if stray:
        raise ConfigError(f"unexpected argument(s) {' '.join(stray)}: overrides are KEY=VALUE (e.g. optim.lr=3e-4)")
    config, run_dir, resume = resolve_config(args)
    console = make_console()
    _note_plugin_failures()
    if args.print_config:
        console.print(config_yaml(config), markup=False, highlight=False)
        return 0
    demo = args.preset == "demo" and not resume
    if demo:
        _check_demo_plugins(console, config)
    started = time.perf_counter()
    try:
        result = train(config, run_dir, resume=resume, device=args.device, console=console)
    except TrainingInterrupted as exc:
        console.print(f"[yellow]{exc}[/yellow]", highlight=False)
        return exc.exit_code
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    seconds = time.perf_counter() - started
    console.print(f"done: {result.step} iterations in {seconds:.0f} s; student in {run_dir / MODEL_FILE}"
                  + (f", best in {run_dir / BEST_FOLDER}" if result.best_score is not None else ""), highlight=False)
    if result.initial_scores and result.final_scores:
        labels = ("untrained", "trained") if demo else ("start", "end")
        worse: list[str] = []
        for key, (start, end) in _per_dataset(config, result.initial_scores, result.final_scores).items():
            console.print(scores_table(start, end, f"validation ({key})", *labels))
            if demo:
                tasks = sorted({k.split("/")[0] for k in end if "/" in k and not k.startswith("distill/")})
                better = improved_tasks(start, end, tasks)
                closer = improved_teachers(start, end) if config.stage == 1 else {}
                prefix = f"{key}/" if len(config.data.entries()) > 1 else ""
                worse += [prefix + t for t, ok in {**better, **closer}.items() if not ok]
        if demo:
            what = "every teacher (centred cosine)" if config.stage == 1 else "every task"
            verdict = (f"[green]the trained student beats the untrained one on {what}[/green]" if not worse
                       else f"[red]not better on: {', '.join(worse)}[/red]")
            console.print(f"{verdict} ({seconds:.0f} s in all)")
    return 0

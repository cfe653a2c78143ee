"""Partial labels across datasets (issue 22): does a student trained on two halves of the synthetic
scenes, each labelling three of the six tasks, keep what the full-label student gains?

    python benchmarks/bench_partial_labels.py                      # 4 students x 3 seeds, ~15-25 min on 2 cores
    python benchmarks/bench_partial_labels.py --markdown table.md  # also append the table to table.md
    python benchmarks/bench_partial_labels.py --smoke              # a few steps of each student, one seed

The synthetic scenes are split into two halves of the same distribution and size but different
scenes: A (``seed`` option 1) and B (``seed`` option 2). Four students are trained with the
``demo`` preset (tiny random-weight DINOv2, CLIP and SAM teachers, the tiny stem, its 250
iterations), each with the same seeds (``optim.seed``) and every other setting alike:

- ``full``:  A and B, both with all six labels;
- ``mixed``: A labelling semseg, normals and boundaries, B labelling saliency, depth and parts;
- ``A``:     A alone with its three; ``B``: B alone with its three.

Every trained student, and the untrained student it started from (its run's initial weights,
which ``optim.seed`` and its heads fix: the mixed student builds its heads in another order than
the full one, so its untrained scores differ), is scored on one held-out set with all six labels:
the ``val`` splits of A and B together (none of their scenes is trained on), each task's protocol
metric (``--protocol full``: boundaries by odsF) or its training-time one (``--protocol fast``). A
task's gain is ``trained - untrained`` in its metric's better direction, each student against its
own start; ``mixed/full`` is the mixed student's gain over the full student's, per seed. The table
gives the mean over seeds and the min..max (the untrained column: the full student's start); a
single-half student shows ``-`` for the tasks it has no head for. Runs go to a
temporary folder (``--keep DIR`` keeps them there instead).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_steps  # the step benchmark's machine line

from sak_core.config import RunConfig, build_config
from sak_core.evaluation import RunContext, bind_tasks, evaluate
from sak_core.evaluation.scoring import make_metric
from sak_core.model.assemble import build_dataset, create_student
from sak_core.plugin.lookup import get_dataset_spec, get_task_spec
from sak_core.presets import get_preset
from sak_core.runtime.device import resolve_precision
from sak_core.training import train
from sak_core.training.seeding import seed_everything

TASKS = ("semseg", "parts", "saliency", "normals", "boundaries", "depth")  # the synthetic scenes' order
HALF_TASKS = {"A": ("semseg", "normals", "boundaries"), "B": ("saliency", "depth", "parts")}
HALF_SEEDS = {"A": 1, "B": 2}  # the synthetic generator's seed option: disjoint scenes, one distribution
HALF_ALIASES = {"A": "half-a", "B": "half-b"}
STUDENTS = ("full", "mixed", "A", "B")
THRESHOLD = 0.8  # the mixed student keeps at least this share of the full student's gain, on every task


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2", help="optim.seed of each repetition (default 0,1,2)")
    p.add_argument("--iterations", type=int, help="training steps of every student (default: the demo preset's)")
    p.add_argument("--count", type=int, default=300, help="scenes per half, 80%% train / 20%% val (default 300)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (optim.cpu_threads; default 1)")
    p.add_argument("--protocol", choices=("full", "fast"), default="full",
                   help="each task's protocol metric (boundaries: odsF) or its training-time one (default full)")
    p.add_argument("--keep", metavar="DIR",
                   help="train the runs into DIR (new) and keep them; default: a temporary folder")
    p.add_argument("--markdown", metavar="FILE", help="also append the table, as markdown, to FILE")
    p.add_argument("--json", action="store_true", help="also print every score as one JSON line per student and seed")
    p.add_argument("--smoke", action="store_true",
                   help="a quick check that it runs: 3 steps, seed 0, 20 scenes per half")
    args = p.parse_args(argv)
    if args.smoke:
        args.seeds, args.iterations, args.count = "0", 3, 20
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    return args


def half_entry(half: str, count: int, labels: tuple[str, ...] | None) -> dict:
    """The ``data.datasets`` entry of one half, labelling ``labels`` (None: all six)."""
    options: dict = {"count": count, "seed": HALF_SEEDS[half]}
    if labels is not None:
        options["labels"] = list(labels)
    return {"name": "synthetic", "alias": HALF_ALIASES[half], "options": options}


def student_datasets(student: str, count: int) -> list[dict]:
    """The datasets one of the four students trains on."""
    if student == "full":
        return [half_entry("A", count, None), half_entry("B", count, None)]
    if student == "mixed":
        return [half_entry(h, count, HALF_TASKS[h]) for h in ("A", "B")]
    return [half_entry(student, count, HALF_TASKS[student])]


def run_config(student: str, seed: int, args: argparse.Namespace, run_dir: Path) -> RunConfig:
    """The demo preset with this student's datasets, seed, length and threads; one validation at
    the end (the runs' own validation does not pick what is scored here: the final student is)."""
    optim: dict = {"seed": seed, "cpu_threads": args.threads}
    if args.iterations is not None:
        optim.update(iterations=args.iterations, epochs=None)
    preset = get_preset("demo").as_layer()
    length = args.iterations or preset["optim"]["iterations"]
    layer = {
        "data": {"datasets": student_datasets(student, args.count)},
        "optim": optim,
        "output": {"dir": str(run_dir), "tensorboard": False, "val_every": length, "checkpoint_every": length},
    }
    return build_config(preset, layer, source=f"config of the {student} student")


def untrained_student(config: RunConfig):
    """The student ``config`` starts from: the trainer seeds with ``optim.seed`` and builds it first."""
    seed_everything(config.optim.seed)
    return create_student(config).eval()


def held_out(count: int, size: tuple[int, int]):
    """The val splits of both halves with all six labels, padded to the student's size."""
    spec = get_dataset_spec("synthetic")
    parts = [build_dataset(spec, "val", TASKS, train=False, input_size=size,
                           options={"count": count, "seed": HALF_SEEDS[h]}) for h in ("A", "B")]
    return torch.utils.data.ConcatDataset(parts)


def score(student, data, protocol: str) -> dict[str, float]:
    """Each head's primary metric on ``data`` by ``protocol``; with ``full``, also ``TASK/fast``
    for each task whose training-time metric is another one (boundaries: the approximate F)."""
    tasks = bind_tasks(student, get_dataset_spec("synthetic"))
    scores = primary_metrics(evaluate(student, tasks, data, device="cpu", batch_size=8, full=protocol == "full",
                                      precision="fp32"))
    separate = {name: task for name, task in tasks.items()
                if type(make_metric(task, full=True)) is not type(make_metric(task, full=False))}
    if protocol == "full" and separate:
        fast = primary_metrics(evaluate(student, separate, data, device="cpu", batch_size=8, full=False,
                                        precision="fp32"))
        scores.update({f"{task}/fast": value for task, value in fast.items()})
    return scores


def primary_metrics(result) -> dict[str, float]:
    """task -> its primary metric, of an :class:`~sak_core.evaluation.scoring.EvalResult`."""
    return {task: values[get_task_spec(task).metric_name] for task, values in result.metrics.items()}


def gain(row: str, untrained: float, trained: float) -> float:
    """``trained - untrained`` in the direction in which the metric of ``row`` (``TASK`` or
    ``TASK/fast``) gets better."""
    return trained - untrained if get_task_spec(row.split("/")[0]).higher_is_better else untrained - trained


def measure(args: argparse.Namespace, root: Path) -> dict[int, dict[str, dict[str, float]]]:
    """seed -> student -> task -> primary metric on the held-out set, for each of the four trained
    students and, as ``untrained/STUDENT``, the weights it started from."""
    scores: dict[int, dict[str, dict[str, float]]] = {}
    data = None
    for seed in args.seeds:
        scores[seed] = {}
        for student in STUDENTS:
            run_dir = root / f"{student}-seed{seed}"
            config = run_config(student, seed, args, run_dir)
            if data is None:
                data = held_out(args.count, tuple(config.data.input_size))
            scores[seed][f"untrained/{student}"] = score(untrained_student(config), data, args.protocol)
            started = time.perf_counter()
            train(config, run_dir, console=Console(quiet=True))
            trained = RunContext.open(run_dir).load_student("cpu")
            scores[seed][student] = score(trained, data, args.protocol)
            print(f"seed {seed} {student:>5s}: trained in {time.perf_counter() - started:.0f} s; "
                  + ", ".join(f"{t} {v:.3f}" for t, v in scores[seed][student].items()), flush=True)
            if args.json:
                print(json.dumps({"seed": seed, "student": student, "scores": scores[seed][student],
                                  "untrained": scores[seed][f"untrained/{student}"]}), flush=True)
    return scores


def spread(values: list[float], digits: int) -> str:
    """``mean (min..max)``, or the value alone for one seed."""
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}..{max(values):.{digits}f})"


def ratios(scores: dict[int, dict[str, dict[str, float]]], task: str) -> list[float]:
    """Per seed: the mixed student's gain on ``task`` over the full student's."""
    return [mixed / full if full != 0 else float("nan")
            for full, mixed in zip(gains(scores, task, "full"), gains(scores, task, "mixed"))]


def gains(scores: dict[int, dict[str, dict[str, float]]], task: str, student: str) -> list[float]:
    """Per seed: ``student``'s gain on ``task`` over the weights it started from."""
    return [gain(task, s[f"untrained/{student}"][task], s[student][task]) for s in scores.values()]


def table_rows(scores: dict[int, dict[str, dict[str, float]]]) -> list[str]:
    """``TASK`` for every task, in the scenes' order, each followed by ``TASK/fast`` when scored."""
    scored = {row for by_student in scores.values() for row in by_student["untrained/full"]}
    return [row for task in TASKS for row in (task, f"{task}/fast") if row in scored]


def markdown_table(scores: dict[int, dict[str, dict[str, float]]], protocol: str) -> str:
    """One row per task: each student's score, the full and mixed students' gains and the
    mixed/full gain ratio, mean (min..max) over seeds."""
    head = ("| task | metric | untrained | full (A+B, all labels) | mixed (A: 3, B: 3) | A alone | B alone "
            "| full gain | mixed gain | mixed/full gain |\n|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for row in table_rows(scores):
        task, _, fast = row.partition("/")
        spec = get_task_spec(task)
        digits = 3 if task == "depth" else 2
        cells = []
        for student in ("untrained/full", *STUDENTS):
            values = [s[student][row] for s in scores.values() if row in s[student]]
            cells.append(spread(values, digits) if values else "-")
        cells += [spread(gains(scores, row, student), digits) for student in ("full", "mixed")]
        cells.append(spread(ratios(scores, row), 2))
        kind = "training-time " if fast or protocol == "fast" else ""
        metric = f"{kind}{spec.metric_name} ({'higher' if spec.higher_is_better else 'lower'} is better)"
        rows.append(f"| {task} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def verdict(scores: dict[int, dict[str, dict[str, float]]]) -> str:
    """Whether the mean mixed/full gain ratio reaches the threshold on every task (by the
    protocol scored), naming those that do not."""
    short = {t: statistics.fmean(ratios(scores, t)) for t in table_rows(scores) if "/" not in t}
    below = [f"{t} {r:.2f}" for t, r in short.items() if not r >= THRESHOLD]
    if not below:
        return f"mixed/full gain ratio >= {THRESHOLD:.2f} on every task (mean over seeds)"
    return f"mixed/full gain ratio below {THRESHOLD:.2f} (mean over seeds) on: {', '.join(below)}"


def main(argv=None) -> int:
    args = parse_args(argv)
    start_machine, started = bench_steps.machine(), time.perf_counter()
    if args.keep:
        root = Path(args.keep)
        root.mkdir(parents=True, exist_ok=False)
        scores = measure(args, root)
    else:
        with tempfile.TemporaryDirectory(prefix="sak-partial-labels-") as tmp:
            scores = measure(args, Path(tmp))
    seconds = time.perf_counter() - started
    table = markdown_table(scores, args.protocol)
    precision = resolve_precision(get_preset("demo").config["optim"].get("precision", "auto"), torch.device("cpu"))
    notes = [
        (f"{len(args.seeds)} seed(s) {','.join(map(str, args.seeds))}; {args.count} scenes per half; "
         f"training precision {precision.name}; held-out: the val splits of both halves ({args.protocol} protocol); "
         f"{verdict(scores)}"),
        f"machine at start: {start_machine}",
        f"machine at end: {bench_steps.machine()}",
        f"wall time: {seconds / 60:.1f} min",
    ]
    print(table)
    print("\n".join(notes))
    if args.markdown:
        with open(args.markdown, "a") as out:
            out.write(table + "\n\n" + "\n".join(f"- {line}" for line in notes) + "\n")
        print(f"table appended to {args.markdown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

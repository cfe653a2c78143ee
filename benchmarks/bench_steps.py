"""Images/s and peak memory of a stage-1 step, a stage-2 step and inference, teachers timed apart,
for one precision or several side by side.

    python benchmarks/bench_steps.py --compare fp32,auto --setting cpu   # the CPU speed-up check
    python benchmarks/bench_steps.py --setting tiny --threads 1          # demo-sized models, < 1 min
    python benchmarks/bench_steps.py --device cuda --compare fp32,auto --compile   # the paper's sizes
    python benchmarks/bench_steps.py --setting paper --stages stage1 --compare fp32,fp32+ckpt \
        --warmup 1 --rounds 1 --block 1                  # paper sizes on a CPU (batch 2), with checkpointing

Settings: ``paper`` (the ``paper-stage1`` / ``paper-pascal`` presets: ViT-B stem, B-size DINOv2,
CLIP and SAM, 384 px batch 32 for stage 1 and 512 px batch 4 for stage 2; batch 2 on a CPU), ``cpu`` (a ViT-S stem
with aligners, DINOv2-S/14 and timm's CLIP-B/16 at 224 px, batch 2: big enough for the matmul
kernels to matter, small enough for a CPU) and ``tiny`` (the demo preset's models at 64 px).
Teachers have random weights and the stem is untrained, so nothing is downloaded. A step is timed
in two parts: the frozen teachers' forward (no grad) and the student's forward, loss, backward and
optimizer update. Stage-2 targets come from a few scenes of the ``synthetic`` dataset rendered at
the benchmark size.

Speed: all variants of a stage run in one process, a block of ``--block`` steps of each in turn (in
reverse order every other round), so a change of load on a shared machine hits them alike. A row's
``x ref`` is the median over rounds of the first variant's step time over its own, the quartiles beside
it. Memory: each (stage, variant) runs again in a process of its own and reports the peak of one
step after the warm-up: CUDA ``max_memory_allocated``, or on CPU the peak resident set (Linux's
VmHWM, restarted before the step so model building does not count) above what the process held
after importing torch. These are figures to read, not tests.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Callable, NamedTuple

STAGES = ("stage1", "stage2", "inference")
SETTINGS = ("paper", "cpu", "tiny")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--setting", choices=SETTINGS, default=None,
                   help="model sizes: paper (default on GPU), cpu (default on CPU) or tiny")
    p.add_argument("--tiny", action="store_true", help="same as --setting tiny")
    p.add_argument("--stem", help="student stem: vit_small | vit_base | vit_large (default: the setting's)")
    p.add_argument("--teachers", help="comma-separated teachers (default: the setting's)")
    p.add_argument("--size", help="input HxW for every stage (default: the setting's)")
    p.add_argument("--batch", type=int, help="images per step (default: the setting's)")
    p.add_argument("--compare", default=None, metavar="V,W",
                   help="variants side by side, ratios to the first: precisions (fp32, bf16, fp16, auto), each "
                        "optionally +compile; e.g. fp32,auto")
    p.add_argument("--precision", default="auto", help="one variant when not comparing (default auto)")
    p.add_argument("--compile", action="store_true", help="also run each variant with torch.compile(student)")
    p.add_argument("--dataset", default=None, help="stage-2 heads (default: pascal-context for paper, else synthetic)")
    p.add_argument("--rounds", type=int, default=5,
                   help="timed rounds per stage, one block of steps of each variant per round (default 5)")
    p.add_argument("--block", type=int, default=3, help="timed steps per block (default 3)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps of each variant first (default 2)")
    p.add_argument("--stages", default=",".join(STAGES), help=f"subset of {','.join(STAGES)}")
    p.add_argument("--threads", type=int,
                   help="CPU threads for torch (default: torch's; 1 gives steadier figures on a busy machine)")
    p.add_argument("--json", action="store_true", help="print one JSON line per run instead of a table")
    p.add_argument("--markdown", metavar="FILE", help="also append the table, as markdown, to FILE")
    p.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    p.add_argument("--child-memory", metavar="VARIANT", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tiny:
        args.setting = "tiny"
    return args


# -- building --------------------------------------------------------------------------------------
# The ``cpu`` setting: a ViT-S stem with aligners (its 384 channels meet CLIP-B's 768), DINOv2-S/14
# and timm's CLIP-B/16, at 224 px.
CPU_TEACHERS = [
    {"name": "dinov2", "options": {"size": "small"}},
    {"name": "clip", "options": {"backend": "timm", "variant": "vit_base_patch16_clip_224", "pretrained": "openai"}},
]


def setting_of(args: argparse.Namespace, device) -> str:
    return args.setting or ("paper" if device.type == "cuda" else "cpu")


def run_config(args: argparse.Namespace, stage: str, setting: str):
    from sak_core.config import build_config
    from sak_core.presets import get_preset

    preset = "demo" if setting == "tiny" else ("paper-stage1" if stage == "stage1" else "paper-pascal")
    layer = get_preset(preset).as_layer()
    layer["model"]["stem_pretrained"] = False
    data = layer.setdefault("data", {})
    if setting == "cpu":
        layer["model"] = {"stem": "vit_small", "aligners": True}
        layer["teachers"] = [dict(t) for t in getattr(args, "cpu_teachers", None) or CPU_TEACHERS]
        data.update(dataset="synthetic", input_size=[224, 224])
        data.pop("options", None)
    if args.stem:
        layer["model"]["stem"] = args.stem
        layer["model"].pop("stem_overrides", None)
    if args.teachers:
        layer["teachers"] = [{"name": t.strip()} for t in args.teachers.split(",") if t.strip()]
    layer["teachers"] = [
        {**(t if isinstance(t, dict) else {"name": t}), "weights": "random"} for t in layer["teachers"]
    ]
    if stage == "stage1":
        layer["stage"], layer["tasks"] = 1, []
    elif args.dataset:
        data["dataset"] = args.dataset
    if args.size:
        from sak_core.datasets.base import parse_size

        data["input_size"] = list(parse_size(args.size))
    default_batch = {"tiny": 2, "cpu": 2}.get(setting, 32 if stage == "stage1" else 4)
    if setting == "paper" and not _cuda_device(args.device):
        default_batch = 2  # a paper-size stage-1 step at batch 2 is ~30 s on a CPU
    data["batch_size"] = args.batch or default_batch
    return build_config(layer, source=f"{preset} preset ({setting} setting)")


def synthetic_targets(config, tasks, size, batch):
    """A batch of ``batch`` synthetic scenes at ``size`` with labels for ``tasks``."""
    from sak_core.plugin.lookup import get_dataset_spec
    from sak_core.evaluation import collate_samples

    spec = get_dataset_spec("synthetic")
    wanted = [t for t in tasks if t in spec.tasks]
    data = spec.create("train", False, None, size, tasks=wanted,
                        count=max(8, math.ceil(batch / 0.8) + 2))
    return collate_samples([data[i % len(data)] for i in range(batch)])


def _cuda_device(name: str) -> bool:
    import torch

    return name.startswith("cuda") or (name == "auto" and torch.cuda.is_available())


def machine() -> str:
    """The machine a figure was measured on: CPU model, its bf16/AMX flags, torch's threads, load."""
    import torch

    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    wanted = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16") if f in flags]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (f"{model}, {os.cpu_count()} cores, flags {' '.join(wanted) or 'none of avx2/avx512/amx'}; "
            f"torch {torch.__version__}, {torch.get_num_threads()} threads; load average {load}")


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rss_gib() -> float:
    """This process's peak resident set: Linux's VmHWM, which :func:`reset_peak_rss` can restart,
    or getrusage's lifetime peak where /proc is missing."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def reset_peak_rss() -> bool:
    """Restart the peak resident set at the current one (Linux), so that building the models
    (teachers are built in fp32, then cast) does not count as a step's peak."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def peak_memory(device, baseline_gib: float) -> tuple[str, float]:
    import torch

    if device.type == "cuda":
        return "GPU GiB", torch.cuda.max_memory_allocated(device) / 2**30
    return "RSS GiB over torch", rss_gib() - baseline_gib


class Spec(NamedTuple):
    """One way of running a step, from a ``--compare`` item: ``PRECISION`` with optional modifiers
    ``+compile`` (torch.compile of the student) and ``+ckpt`` (model.grad_checkpointing)."""

    name: str
    precision: str
    compiled: bool
    checkpointed: bool = False

    @classmethod
    def parse(cls, text: str) -> Spec:
        from sak_core.runtime.precision import PRECISION_SETTINGS

        precision, *mods = text.split("+")
        if precision not in PRECISION_SETTINGS:
            raise SystemExit(f"unknown precision '{precision}' in '{text}': use {', '.join(PRECISION_SETTINGS)}")
        if set(mods) - {"compile", "ckpt"}:
            raise SystemExit(f"unknown modifier '{sorted(set(mods) - {'compile', 'ckpt'})[0]}' in '{text}': "
                             "use +compile or +ckpt")
        return cls(text, precision, "compile" in mods, "ckpt" in mods)


class Variant(NamedTuple):
    """A built spec: ``block(k)`` runs ``k`` steps and returns each one's (teacher seconds,
    student seconds); ``teacher_times`` gets each step's seconds per teacher."""

    block: Callable[[int], list[tuple[float, float]]]
    info: dict
    teacher_times: list[dict[str, float]]


def build_variant(stage: str, spec: Spec, args: argparse.Namespace, teacher_cache: dict) -> Variant:
    """The student, teachers, batch and optimizer of ``stage`` as ``spec`` says; teachers are shared
    through ``teacher_cache`` (by precision) by the variants of one process."""
    import torch

    from sak_core.plugin.lookup import create_task, get_dataset_spec
    from sak_core.model.assemble import create_student, resolve_tasks
    from sak_core.model.distill import distillation_loss
    from sak_core.runtime.device import autocast, grad_scaler, resolve_device, resolve_precision
    from sak_core.training.loop import build_teachers
    from sak_core.training.optimizer import build_optimizer

    device = resolve_device(args.device)
    setting = setting_of(args, device)
    config = run_config(args, stage, setting)
    config = config.model_copy(update={"model": config.model.model_copy(update={"grad_checkpointing": spec.checkpointed})})
    precision = resolve_precision(spec.precision, device)
    size = tuple(config.data.input_size or get_dataset_spec(config.data.dataset).input_size)
    batch = config.data.batch_size
    torch.manual_seed(0)  # every variant starts from the same student
    student = create_student(config).to(device)
    params = sum(p.numel() for p in student.parameters()) / 1e6
    teachers = {}
    if stage != "inference":
        if precision.name not in teacher_cache:
            teacher_cache[precision.name] = build_teachers(config, device, precision)
        teachers = teacher_cache[precision.name]
    task_names = resolve_tasks(config) if stage != "stage1" else []
    dataset = get_dataset_spec(config.data.dataset)
    losses = {n: create_task(n, dataset).loss().to(device) for n in task_names}
    weights = {n: create_task(n, dataset).loss_weight for n in task_names}
    generator = torch.Generator().manual_seed(1)
    if stage != "stage2":  # image content does not change the cost of a forward
        images, targets = torch.randn(batch, 3, *size, generator=generator), {}
    else:
        sample = synthetic_targets(config, task_names, size, batch)
        images = sample["image"]
        targets = {n: sample[n].to(device) for n in task_names if n in sample}
    images = images.to(device)
    optimizer = build_optimizer(student, lr=1e-5, weight_decay=1e-6)  # the trainer's (fused AdamW)
    scaler = grad_scaler(device, precision.name)  # the trainer's: fp16 only
    model = torch.compile(student) if spec.compiled else student
    student.train(stage != "inference")

    teacher_times: list[dict[str, float]] = []

    def teacher_targets() -> dict:  # the trainer's: the frozen teachers run no-grad
        features, seconds = {}, {}
        for n, t in teachers.items():  # timed one by one
            t0 = time.perf_counter()
            features[n] = t(images)
            sync(device)
            seconds[n] = time.perf_counter() - t0
        teacher_times.append(seconds)
        return features

    def student_step(features: dict) -> None:
        if stage == "inference":
            with torch.no_grad(), autocast(device, precision.name):
                model(images)
            sync(device)
            return
        with autocast(device, precision.name):
            out = model(images)
            total = distillation_loss(out.distill, features)[0] if features else 0.0
            for n, loss in losses.items():
                total = total + weights[n] * loss(out.tasks[n], targets[n])
        if scaler is not None:
            scaler.scale(total).backward()
            scaler.unscale_(optimizer)
        else:
            total.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 10.0)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync(device)

    def block(k: int) -> list[tuple[float, float]]:
        times = []
        for _ in range(k):
            t0 = time.perf_counter()
            features = teacher_targets() if teachers else {}
            t1 = time.perf_counter()
            student_step(features)
            times.append((t1 - t0, time.perf_counter() - t1))
        return times

    info = {
        "stage": stage,
        "setting": setting,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}",
        "size": f"{size[0]}x{size[1]}",
        "batch": batch,
        "variant": spec.name,
        "precision": precision.name,
        "compiled": spec.compiled,
        "checkpointed": spec.checkpointed,
        "why": precision.reason,
        "stem": config.model.stem,
        "student_params_M": round(params, 1),
        "teachers": ",".join(teachers) or "-",
        "tasks": ",".join(task_names) or "-",
    }
    return Variant(block, info, teacher_times)


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(first quartile, median, third quartile) of ``values``."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def measure_speed(stage: str, specs: list[Spec], args: argparse.Namespace) -> list[dict]:
    """Time every variant of ``stage`` in this one process, a block of ``--block`` steps of each in
    turn (in reverse order every other round), so a change of load hits all of them alike.

    A variant's ``speedup`` is the median over rounds of the first variant's mean step time over
    its own, with the quartiles as its spread.
    """
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cache: dict = {}
    variants = [build_variant(stage, spec, args, cache) for spec in specs]
    start = machine()
    for v in variants:
        v.block(args.warmup)
        v.teacher_times.clear()
    rounds = []
    for r in range(args.rounds):
        order = range(len(variants)) if r % 2 == 0 else reversed(range(len(variants)))
        timed = {i: variants[i].block(args.block) for i in order}
        rounds.append([timed[i] for i in range(len(variants))])
    rows = []
    step_time = [[statistics.mean(t + s for t, s in r[i]) for r in rounds] for i in range(len(variants))]
    for i, v in enumerate(variants):
        q1, ratio, q3 = quartiles([ref / own for ref, own in zip(step_time[0], step_time[i])])
        steps = [ts for r in rounds for ts in r[i]]
        teacher_s = statistics.median(t for t, _ in steps)
        student_s = statistics.median(s for _, s in steps)
        batch = v.info["batch"]
        rows.append({
            **v.info,
            "images_per_s": batch / statistics.median(step_time[i]),
            "student_images_per_s": batch / student_s,
            "teacher_ms": 1000 * teacher_s,
            "student_ms": 1000 * student_s,
            "teacher_share": teacher_s / (teacher_s + student_s),
            "speedup": ratio, "speedup_q1": q1, "speedup_q3": q3,
            "steps": len(steps),
            "teacher_ms_each": {n: 1000 * statistics.median(t[n] for t in v.teacher_times)
                                for n in (v.teacher_times[0] if v.teacher_times else {})},
            "machine_start": start, "machine_end": machine(),
        })
    return rows


def measure_memory(stage: str, spec: Spec, args: argparse.Namespace) -> dict:
    """Peak memory of ``stage`` as ``spec`` runs it, alone in this process, during one step after
    the warm-up: the models, optimizer state and the step's activations, not the building."""
    import torch

    baseline = rss_gib()  # torch and the interpreter, before any model exists
    if args.threads:
        torch.set_num_threads(args.threads)
    from sak_core.runtime.device import resolve_device

    device = resolve_device(args.device)
    variant = build_variant(stage, spec, args, {})
    variant.block(max(args.warmup, 1))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    else:
        reset_peak_rss()
    variant.block(1)
    unit, memory = peak_memory(device, baseline)
    return {"memory_unit": unit, "peak_memory": memory}


def variant_specs(args: argparse.Namespace) -> list[Spec]:
    """The variants to run, in order; the first is the reference of the ratios."""
    specs = [Spec.parse(t.strip()) for t in (args.compare or args.precision).split(",") if t.strip()]
    if args.compile:
        specs += [Spec.parse(f"{s.name}+compile") for s in specs if not s.compiled]
    return specs


def run_child(forwarded: list[str], extra: list[str], what: str):
    """Run this script with ``extra`` in a fresh process and return the JSON it prints last."""
    command = [sys.executable, os.path.abspath(__file__), *forwarded, *extra]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"{what} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        if args.child_memory:
            result = measure_memory(args.child, Spec.parse(args.child_memory), args)
        else:
            result = measure_speed(args.child, variant_specs(args), args)
        print(json.dumps(result), flush=True)
        return 0
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    for stage in stages:
        if stage not in STAGES:
            raise SystemExit(f"unknown stage '{stage}': choose from {', '.join(STAGES)}")
    specs = variant_specs(args)
    rows = []
    for stage in stages:
        speed = run_child(forwarded, ["--child", stage], f"{stage} timing")
        for row, spec in zip(speed, specs):  # each variant's memory in a process of its own
            if not args.no_memory:
                row.update(run_child(forwarded, ["--child", stage, "--child-memory", spec.name],
                                     f"{stage} memory of {spec.name}"))
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
    if not args.json:
        print_table(rows)
    if args.markdown and rows:
        with open(args.markdown, "a") as out:
            out.write(markdown_table(rows) + "\n")
        print(f"  table appended to {args.markdown}")
    return 0


def notes(rows: list[dict]) -> list[str]:
    """The lines under a table: each stage's work, per-teacher times, variants' precisions, the machine."""
    lines, seen = [], set()
    for r in rows:
        if r["stage"] not in seen:
            seen.add(r["stage"])
            lines.append(f"{r['stage']}: {r['size']} batch {r['batch']}; student {r['student_params_M']}M params; "
                         f"teachers {r['teachers']}; tasks {r['tasks']}")
    for r in rows:
        if r.get("teacher_ms_each"):
            each = ", ".join(f"{n} {ms:.0f}" for n, ms in r["teacher_ms_each"].items())
            lines.append(f"{r['stage']} {r['variant']}: teacher by teacher (ms) {each}")
    for variant, why in {r["variant"]: r["why"] for r in rows}.items():
        lines.append(f"{variant}: {why}")
    lines.append("teachers: the frozen teachers' forward; student: its forward, loss, backward and update (ms)")
    lines.append(f"machine at start: {rows[0].get('machine_start', '?')}")
    lines.append(f"machine at end: {rows[-1].get('machine_end', '?')}")
    return lines


def markdown_table(rows: list[dict]) -> str:
    """``rows`` as a markdown table (ms per step, ratios to each stage's first variant) with its notes."""
    reference: dict = {}
    for r in rows:
        reference.setdefault(r["stage"], r)
    memory = "peak_memory" in rows[0]
    head = ["stage", "variant", "precision", "img/s", "x ref", "teachers ms", "student ms"]
    head += [f"peak {rows[0]['memory_unit']}", "x ref mem"] if memory else []
    out = [f"Device: {rows[0]['device']}, {rows[0]['setting']} setting, stem {rows[0]['stem']}.", "",
           "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        ref = reference[r["stage"]]
        cells = [r["stage"], r["variant"], r["precision"], f"{r['images_per_s']:.2f}",
                 f"{r['speedup']:.2f} ({r['speedup_q1']:.2f}-{r['speedup_q3']:.2f})",
                 f"{r['teacher_ms']:.0f}" if r["stage"] != "inference" else "-", f"{r['student_ms']:.0f}"]
        if memory:
            cells += [f"{r['peak_memory']:.2f}",
                      f"{r['peak_memory'] / ref['peak_memory']:.2f}" if ref["peak_memory"] > 0 else "-"]
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out + [""] + [f"- {line}" for line in notes(rows)]) + "\n"


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    first = rows[0]
    reference = {}
    for r in rows:
        reference.setdefault(r["stage"], r)
    memory = "peak_memory" in first
    unit = f", peak {first['memory_unit']}" if memory else ""
    table = Table(title=f"sak step benchmark on {first['device']} ({first['setting']} setting, stem {first['stem']}; "
                        f"ms per step{unit})")
    columns = ["stage", "variant", "precision", "img/s", "x ref", "x ref q1-q3", "teachers", "student",
               "teach %"] + (["peak", "x ref mem"] if memory else [])
    for column in columns:
        table.add_column(column, justify="left" if column in ("stage", "variant", "precision") else "right")
    for r in rows:
        ref = reference[r["stage"]]
        timed = r["stage"] != "inference"
        cells = [
            r["stage"], r["variant"], r["precision"] + ("+compile" if r["compiled"] else ""), f"{r['images_per_s']:.2f}",
            f"{r['speedup']:.2f}", f"{r['speedup_q1']:.2f}-{r['speedup_q3']:.2f}",
            f"{r['teacher_ms']:.1f}" if timed else "-", f"{r['student_ms']:.1f}",
            f"{100 * r['teacher_share']:.0f}%" if timed else "-",
        ]
        if memory:
            cells += [f"{r['peak_memory']:.2f}",
                      f"{r['peak_memory'] / ref['peak_memory']:.2f}" if ref["peak_memory"] > 0 else "-"]
        table.add_row(*cells)
    Console(width=max(132, Console().width)).print(table)
    for line in notes(rows):
        print(f"  {line}")


if __name__ == "__main__":
    sys.exit(main())

"""Images/s and peak memory of a stage-1 step, a stage-2 step and inference, teachers timed apart,
for one precision or several side by side.

    python benchmarks/bench_steps.py --compare fp32,auto --setting cpu   # the CPU speed-up check
    python benchmarks/bench_steps.py --setting tiny --threads 1          # demo-sized models, < 1 min
    python benchmarks/bench_steps.py --device cuda --compare fp32,auto --compile   # the paper's sizes

Settings: ``paper`` (the ``paper-stage1`` / ``paper-pascal`` presets: ViT-B stem, B-size DINOv2,
CLIP and SAM, 384 px batch 32 for stage 1 and 512 px batch 4 for stage 2), ``cpu`` (a ViT-S stem
with aligners, DINOv2-S/14 and timm's CLIP-B/16 at 224 px, batch 2: big enough for the matmul
kernels to matter, small enough for a CPU) and ``tiny`` (the demo preset's models at 64 px).
Teachers have random weights and the stem is untrained, so nothing is downloaded. A step is timed
in two parts: the frozen teachers' forward (no grad) and the student's forward, loss, backward and
optimizer update. Stage-2 targets come from a few scenes of the ``synthetic`` dataset rendered at
the benchmark size. Each (stage, precision) runs in its own process so that its peak memory is its
own: CUDA ``max_memory_allocated``, or on CPU the process's peak resident set above what it held
after importing torch. With ``--compare``, precisions alternate stage by stage, and each stage's
row gives the ratio to the first precision. These are figures to read, not tests.
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
    p.add_argument("--compare", default=None, metavar="P,Q",
                   help="precisions to run side by side, e.g. fp32,auto (ratios are to the first)")
    p.add_argument("--precision", default="auto", help="one precision when not comparing (default auto)")
    p.add_argument("--compile", action="store_true", help="also run each precision with torch.compile(student)")
    p.add_argument("--dataset", default=None, help="stage-2 heads (default: pascal-context for paper, else synthetic)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per stage (default 5)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--stages", default=",".join(STAGES), help=f"subset of {','.join(STAGES)}")
    p.add_argument("--threads", type=int,
                   help="CPU threads for torch (default: torch's; 1 gives steadier figures on a busy machine)")
    p.add_argument("--json", action="store_true", help="print one JSON line per run instead of a table")
    p.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    p.add_argument("--child-precision", help=argparse.SUPPRESS)
    p.add_argument("--child-compile", action="store_true", help=argparse.SUPPRESS)
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
        layer["teachers"] = [dict(t) for t in CPU_TEACHERS]
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
    data["batch_size"] = args.batch or default_batch
    return build_config(layer, source=f"{preset} preset ({setting} setting)")


def synthetic_targets(config, tasks, size, batch):
    """A batch of ``batch`` synthetic scenes at ``size`` with labels for ``tasks``."""
    from sak_core.api import get_dataset_spec
    from sak_core.evaluation import collate_samples

    spec = get_dataset_spec("synthetic")
    wanted = [t for t in tasks if t in spec.tasks]
    data = spec.create("train", False, None, size, tasks=wanted,
                        count=max(8, math.ceil(batch / 0.8) + 2))
    return collate_samples([data[i % len(data)] for i in range(batch)])


def sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def peak_memory(device, baseline_gib: float) -> tuple[str, float]:
    import torch

    if device.type == "cuda":
        return "GPU GiB", torch.cuda.max_memory_allocated(device) / 2**30
    return "RSS GiB over torch", rss_gib() - baseline_gib


def measure(stage: str, precision_setting: str, compiled: bool, args: argparse.Namespace) -> dict:
    import torch

    baseline = rss_gib()  # torch and the interpreter, before any model exists
    from sak_core.api import create_task, get_dataset_spec
    from sak_core.assemble import create_student, resolve_tasks
    from sak_core.distill import distillation_loss
    from sak_core.runtime import autocast, grad_scaler, resolve_device, resolve_precision
    from sak_core.training.loop import build_teachers
    from sak_core.training.optimizer import build_optimizer

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    setting = setting_of(args, device)
    config = run_config(args, stage, setting)
    precision = resolve_precision(precision_setting, device)
    size = tuple(config.data.input_size or get_dataset_spec(config.data.dataset).input_size)
    batch = config.data.batch_size
    student = create_student(config).to(device)
    params = sum(p.numel() for p in student.parameters()) / 1e6
    teachers = {} if stage == "inference" else build_teachers(config, device, precision.dtype)
    task_names = resolve_tasks(config) if stage != "stage1" else []
    dataset = get_dataset_spec(config.data.dataset)
    losses = {n: create_task(n, dataset).loss().to(device) for n in task_names}
    weights = {n: create_task(n, dataset).loss_weight for n in task_names}
    if stage != "stage2":  # image content does not change the cost of a forward
        images, targets = torch.randn(batch, 3, *size), {}
    else:
        sample = synthetic_targets(config, task_names, size, batch)
        images = sample["image"]
        targets = {n: sample[n].to(device) for n in task_names if n in sample}
    images = images.to(device)
    optimizer = build_optimizer(student, lr=1e-5, weight_decay=1e-6)  # the trainer's (fused AdamW)
    scaler = grad_scaler(device, precision.name)  # the trainer's: fp16 only
    model = torch.compile(student) if compiled else student

    def step() -> tuple[float, float]:
        t0 = time.perf_counter()
        if stage == "inference":
            with torch.no_grad(), autocast(device, precision.name):
                model(images)
            sync(device)
            return 0.0, time.perf_counter() - t0
        features = {n: t(images.to(precision.dtype)) for n, t in teachers.items()}
        sync(device)
        t1 = time.perf_counter()
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
        return t1 - t0, time.perf_counter() - t1

    student.train(stage != "inference")
    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = [step() for _ in range(args.steps)]
    teacher_s = statistics.median(t for t, _ in times)
    student_s = statistics.median(s for _, s in times)
    unit, memory = peak_memory(device, baseline)
    return {
        "stage": stage,
        "setting": setting,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}",
        "size": f"{size[0]}x{size[1]}",
        "batch": batch,
        "precision": precision.name + ("+compile" if compiled else ""),
        "asked": precision_setting + ("+compile" if compiled else ""),
        "why": precision.reason,
        "stem": config.model.stem,
        "student_params_M": round(params, 1),
        "teachers": ",".join(teachers) or "-",
        "tasks": ",".join(task_names) or "-",
        "images_per_s": batch / (teacher_s + student_s),
        "student_images_per_s": batch / student_s,
        "teacher_ms": 1000 * teacher_s,
        "student_ms": 1000 * student_s,
        "teacher_share": teacher_s / (teacher_s + student_s),
        "memory_unit": unit,
        "peak_memory": memory,
    }


def variants(args: argparse.Namespace) -> list[tuple[str, bool]]:
    """(precision setting, compiled) pairs to run, in order; the first is the reference."""
    names = [p.strip() for p in (args.compare or args.precision).split(",") if p.strip()]
    from sak_core.config import PRECISION_SETTINGS

    for name in names:
        if name not in PRECISION_SETTINGS:
            raise SystemExit(f"unknown precision '{name}': use {', '.join(PRECISION_SETTINGS)}")
    pairs = [(n, False) for n in names]
    if args.compile:
        pairs += [(n, True) for n in names]
    return pairs


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args.child_precision, args.child_compile, args)), flush=True)
        return 0
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    for stage in stages:
        if stage not in STAGES:
            raise SystemExit(f"unknown stage '{stage}': choose from {', '.join(STAGES)}")
    rows = []
    for stage in stages:
        for precision, compiled in variants(args):  # alternate precisions so load drifts hit both
            command = [sys.executable, os.path.abspath(__file__), *forwarded, "--child", stage,
                       "--child-precision", precision] + (["--child-compile"] if compiled else [])
            proc = subprocess.run(command, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr)
                raise SystemExit(f"{stage} at {precision} failed (exit {proc.returncode})")
            row = json.loads(proc.stdout.strip().splitlines()[-1])
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
    if not args.json:
        print_table(rows)
    return 0


def print_table(rows: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        return
    first = rows[0]
    reference = {}
    for r in rows:
        reference.setdefault(r["stage"], r)
    table = Table(title=f"sak step benchmark on {first['device']} ({first['setting']} setting, stem {first['stem']}; "
                        f"ms per step, peak {first['memory_unit']})")
    for column in ("stage", "precision", "size", "batch", "img/s", "x ref", "teachers", "student", "teach %",
                   "peak", "x ref mem"):
        table.add_column(column, justify="left" if column in ("stage", "precision") else "right")
    for r in rows:
        ref = reference[r["stage"]]
        timed = r["stage"] != "inference"
        table.add_row(
            r["stage"], r["precision"], r["size"], str(r["batch"]), f"{r['images_per_s']:.2f}",
            f"{r['images_per_s'] / ref['images_per_s']:.2f}",
            f"{r['teacher_ms']:.1f}" if timed else "-", f"{r['student_ms']:.1f}",
            f"{100 * r['teacher_share']:.0f}%" if timed else "-", f"{r['peak_memory']:.2f}",
            f"{r['peak_memory'] / ref['peak_memory']:.2f}" if ref["peak_memory"] > 0 else "-",
        )
    Console(width=max(132, Console().width)).print(table)
    seen = set()
    for r in rows:
        if r["stage"] not in seen:
            seen.add(r["stage"])
            print(f"  {r['stage']}: student {r['student_params_M']}M params; teachers {r['teachers']}; tasks {r['tasks']}")
    for asked, why in {r["asked"]: r["why"] for r in rows}.items():
        print(f"  {asked}: {why}")


if __name__ == "__main__":
    sys.exit(main())

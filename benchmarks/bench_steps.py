"""Images/s and peak memory of a stage-1 step, a stage-2 step and inference, teachers timed apart.

    python benchmarks/bench_steps.py --tiny --threads 1              # CPU, tiny models, < 1 min
    python benchmarks/bench_steps.py --device cuda --precision bf16  # the paper's sizes

Models come from the run presets (``paper-stage1`` and ``paper-pascal``, or ``demo`` with
``--tiny``), with random teacher weights and an untrained stem, so nothing is downloaded. A step
is timed in two parts: the frozen teachers' forward (no grad) and the student's forward, loss,
backward and optimizer update. Stage-2 targets come from a few scenes of the ``synthetic`` dataset
rendered at the benchmark size. Each stage runs in its own process so that its peak memory is its
own: CUDA ``max_memory_allocated``, or on CPU the process's peak resident set (which includes
the ~0.5 GB of torch itself). These are figures to read, not tests.
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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--tiny", action="store_true", help="the demo preset's tiny models at 64x64 (CPU-friendly)")
    p.add_argument("--stem", help="student stem: vit_small | vit_base | vit_large (default: the preset's)")
    p.add_argument("--teachers", help="comma-separated teachers (default: the preset's dinov2,clip,sam)")
    p.add_argument("--size", help="input HxW for every stage (default: 384 for stage 1, the dataset's for stage 2)")
    p.add_argument("--batch", type=int, help="images per step (default: 2 tiny; 32 stage 1, 4 stage 2 / inference)")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="student autocast and teacher dtype (bf16 teachers only on CUDA)")
    p.add_argument("--dataset", default=None, help="stage-2 heads (default pascal-context; synthetic with --tiny)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per stage (default 5)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    p.add_argument("--stages", default=",".join(STAGES), help=f"subset of {','.join(STAGES)}")
    p.add_argument("--threads", type=int,
                   help="CPU threads for torch (default: torch's; 1 gives steadier figures on a busy machine)")
    p.add_argument("--json", action="store_true", help="print one JSON line per stage instead of a table")
    p.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# -- building --------------------------------------------------------------------------------------
def run_config(args: argparse.Namespace, stage: str):
    from sak_core.config import build_config
    from sak_core.presets import get_preset

    preset = "demo" if args.tiny else ("paper-stage1" if stage == "stage1" else "paper-pascal")
    layer = get_preset(preset).as_layer()
    layer["model"]["stem_pretrained"] = False
    if args.stem:
        layer["model"]["stem"] = args.stem
        layer["model"].pop("stem_overrides", None)
    if args.teachers:
        layer["teachers"] = [{"name": t.strip()} for t in args.teachers.split(",") if t.strip()]
    layer["teachers"] = [
        {**(t if isinstance(t, dict) else {"name": t}), "weights": "random"} for t in layer["teachers"]
    ]
    data = layer.setdefault("data", {})
    if stage == "stage1":
        layer["stage"], layer["tasks"] = 1, []
    elif args.dataset:
        data["dataset"] = args.dataset
    if args.size:
        from sak_core.datasets.base import parse_size

        data["input_size"] = list(parse_size(args.size))
    data["batch_size"] = args.batch or (2 if args.tiny else (32 if stage == "stage1" else 4))
    return build_config(layer, source=f"{preset} preset")


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


def peak_memory(device) -> tuple[str, float]:
    import torch

    if device.type == "cuda":
        return "GPU GiB", torch.cuda.max_memory_allocated(device) / 2**30
    return "RSS GiB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def measure(stage: str, args: argparse.Namespace) -> dict:
    import torch

    from sak_core.api import create_task, get_dataset_spec
    from sak_core.assemble import create_student, resolve_tasks
    from sak_core.distill import distillation_loss
    from sak_core.evaluation import resolve_device
    from sak_core.training.loop import build_teachers
    from sak_core.training.precision import autocast

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    config = run_config(args, stage)
    size = tuple(config.data.input_size or get_dataset_spec(config.data.dataset).input_size)
    batch = config.data.batch_size
    bf16 = args.precision == "bf16"
    teacher_dtype = torch.bfloat16 if (bf16 and device.type == "cuda") else torch.float32
    student = create_student(config).to(device)
    params = sum(p.numel() for p in student.parameters()) / 1e6
    teachers = {} if stage == "inference" else build_teachers(config, device, teacher_dtype)
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
    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=1e-5)
    precision = "bf16" if bf16 else "fp32"

    def step() -> tuple[float, float]:
        t0 = time.perf_counter()
        if stage == "inference":
            with torch.no_grad(), autocast(device, precision):
                student(images)
            sync(device)
            return 0.0, time.perf_counter() - t0
        with torch.no_grad():
            features = {n: t(images.to(teacher_dtype)) for n, t in teachers.items()}
        sync(device)
        t1 = time.perf_counter()
        with autocast(device, precision):
            out = student(images)
            total = distillation_loss(out.distill, features)[0] if features else 0.0
            for n, loss in losses.items():
                total = total + weights[n] * loss(out.tasks[n], targets[n])
        total.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 10.0)
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
    unit, memory = peak_memory(device)
    return {
        "stage": stage,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}",
        "size": f"{size[0]}x{size[1]}",
        "batch": batch,
        "precision": precision,
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


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.child, args)), flush=True)
        return 0
    rows = []
    forwarded = [a for a in (argv if argv is not None else sys.argv[1:])]
    for stage in [s.strip() for s in args.stages.split(",") if s.strip()]:
        if stage not in STAGES:
            raise SystemExit(f"unknown stage '{stage}': choose from {', '.join(STAGES)}")
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), *forwarded, "--child", stage],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            raise SystemExit(f"{stage} failed (exit {proc.returncode})")
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
    table = Table(title=f"sak step benchmark on {first['device']} ({first['precision']}, stem {first['stem']}; "
                        f"ms per step, peak {first['memory_unit']})")
    for column in ("stage", "size", "batch", "img/s", "teachers", "student", "teach %", "peak"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for r in rows:
        timed = r["stage"] != "inference"
        table.add_row(
            r["stage"], r["size"], str(r["batch"]), f"{r['images_per_s']:.2f}",
            f"{r['teacher_ms']:.1f}" if timed else "-", f"{r['student_ms']:.1f}",
            f"{100 * r['teacher_share']:.0f}%" if timed else "-", f"{r['peak_memory']:.2f}",
        )
    Console().print(table)
    for r in rows:
        print(f"  {r['stage']}: student {r['student_params_M']}M params; teachers {r['teachers']}; tasks {r['tasks']}")


if __name__ == "__main__":
    sys.exit(main())

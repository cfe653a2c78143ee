"""`sak export`: a trained student as an ONNX graph, checked against PyTorch with onnxruntime."""

from __future__ import annotations

import argparse
import json

from rich.console import Console

from sak_core.cli.options import add_overwrite_option, image_size
from sak_core.config import PATCH_SIZE
from sak_core.errors import SakError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a trained student as an ONNX graph (onnxruntime, TensorRT, OpenVINO)",
        description="Write the student's task outputs (and, with --distill, its distillation maps) as "
        "an ONNX graph with one input 'image' (B x 3 x H x W float32, normalised with the mean/std in "
        "the model's metadata) and one output per task, named after the task. The graph is traced in "
        "fp32; its metadata holds the student config, the run's config and the mean/std. Unless "
        "--no-check, onnxruntime runs the file and the largest difference from PyTorch is printed.",
    )
    parser.add_argument("checkpoint", metavar="RUN_OR_CHECKPOINT",
                        help="run directory, .safetensors file or Hub student hf://ORG/NAME[@REVISION]")
    parser.add_argument("--format", choices=("onnx",), default="onnx", help="output format (default onnx)")
    parser.add_argument("--out", required=True, help="the file to write, e.g. student.onnx")
    add_overwrite_option(parser, "the --out file")
    parser.add_argument("--size", type=image_size, metavar="HxW",
                        help=f"input size to trace at, multiples of {PATCH_SIZE} (default: the student's input size)")
    parser.add_argument("--dynamic", action="store_true",
                        help=f"accept any input height and width (multiples of {PATCH_SIZE}); the batch is always free")
    parser.add_argument("--tasks", help="comma-separated subset of the student's tasks (default: all)")
    parser.add_argument("--distill", action="store_true",
                        help="also output the distillation maps (distill.<teacher>.level<l>)")
    parser.add_argument("--dataset", help="dataset whose mean/std go into the metadata (default: the run's)")
    parser.add_argument("--opset", type=int, help="ONNX opset, 18 or more (default: torch's)")
    parser.add_argument("--no-check", action="store_true", help="do not compare onnxruntime with PyTorch")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import importlib.util

    import torch

    from sak_core.plugin.lookup import get_dataset_spec
    from sak_core.errors import UnknownNameError
    from sak_core.evaluation import RunContext
    from sak_core.convert.onnx import compare_with_onnxruntime, export_onnx
    from sak_core.run.layout import CONFIG_FILE
    from sak_core.runtime.files import check_output
    from sak_core.plugin.specs import IMAGENET_MEAN, IMAGENET_STD

    console = Console()
    context = RunContext.open(args.checkpoint)
    check_output(args.out, reads=context.files_read(), overwrite=args.overwrite)
    for note in context.notes:
        console.print(f"note: {note}", style="yellow", highlight=False, markup=False)
    student = context.load_student("cpu")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None

    mean, std, source = IMAGENET_MEAN, IMAGENET_STD, "ImageNet (no dataset known)"
    dataset_name = context.dataset_name(args.dataset)
    if dataset_name:
        try:
            spec = get_dataset_spec(dataset_name)
            mean, std, source = spec.mean, spec.std, f"dataset {dataset_name}"
        except UnknownNameError:
            if args.dataset:
                raise
            console.print(f"note: dataset '{dataset_name}' is not installed: the metadata gives ImageNet mean/std",
                          style="yellow", highlight=False)
    metadata = {"sak_mean": json.dumps([float(v) for v in mean]), "sak_std": json.dumps([float(v) for v in std]),
                "sak_normalisation": source, "sak_checkpoint": context.checkpoint.name}
    if context.run_dir is not None and (context.run_dir / CONFIG_FILE).is_file():
        metadata["sak_run_config"] = (context.run_dir / CONFIG_FILE).read_text()

    result = export_onnx(student, args.out, size=args.size, dynamic=args.dynamic, tasks=tasks,
                         distill=args.distill, metadata=metadata, opset=args.opset)
    h, w = result.size
    shape = f"B x 3 x H x W (H, W multiples of {PATCH_SIZE})" if result.dynamic else f"B x 3 x {h} x {w}"
    console.print(f"wrote {result.path}: input image {shape}, normalised with the mean/std of {source}",
                  highlight=False, soft_wrap=True)
    for name, channels in result.outputs.items():
        console.print(f"  output {name}: B x {channels} x H x W" if not name.startswith("distill.")
                      else f"  output {name}: B x {channels} x H/{PATCH_SIZE} x W/{PATCH_SIZE}", highlight=False)

    if args.no_check:
        return 0
    if importlib.util.find_spec("onnxruntime") is None:
        console.print("note: onnxruntime is not installed: the export was not checked "
                      "(pip install 'sak-core[onnx]')", style="yellow", highlight=False)
        return 0
    sizes = [result.size]
    if result.dynamic:
        sizes.append((h + PATCH_SIZE, w + 2 * PATCH_SIZE))  # another size than the traced one
    generator = torch.Generator().manual_seed(0)
    for size in sizes:
        images = torch.randn(2, 3, *size, generator=generator)
        diffs = compare_with_onnxruntime(student, result.path, images)
        worst = max(diffs.values())
        console.print(f"onnxruntime vs PyTorch at {size[0]}x{size[1]}: max abs difference {worst:.2e}",
                      highlight=False)
        if worst > 1e-3:
            raise SakError(f"the exported graph differs from PyTorch by {worst:.2e} at {size[0]}x{size[1]} "
                           f"({', '.join(f'{n} {d:.1e}' for n, d in diffs.items())}); please report this")
    return 0

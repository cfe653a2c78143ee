"""`sak data`: dataset utilities; `sak data synth` writes synthetic scenes in a real layout."""

from __future__ import annotations

import argparse
import time

from rich.console import Console

console = Console(stderr=True)


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="dataset utilities (sak data synth ...)",
                                   description="Dataset utilities.")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])
    commands = parser.add_subparsers(title="data commands", metavar="COMMAND")
    synth = commands.add_parser(
        "synth", help="render synthetic scenes into a dataset layout",
        description="Render seeded synthetic indoor scenes (image, semseg, human parts, saliency, normals, "
                    "depth, boundaries) into the on-disk layout of NYUD-v2, PASCAL-Context or the compact "
                    "native layout, so the real loaders read them. The same arguments give the same bytes.",
    )
    synth.add_argument("--layout", choices=("native", "nyud", "pascal-context"), default="native",
                       help="on-disk layout (default: native, all six tasks)")
    synth.add_argument("--out", required=True, help="folder to write (created)")
    synth.add_argument("-n", "--count", type=int, default=100, help="number of scenes (default: 100)")
    synth.add_argument("--size", default="128x128", help="image size HxW (default: 128x128)")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    synth.add_argument("--val-fraction", type=float, default=0.2,
                       help="share of the scenes listed in the val split (default: 0.2)")
    synth.add_argument("--workers", type=int, default=1, help="processes rendering in parallel (default: 1)")
    synth.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    from sak_core.datasets.base import parse_size
    from sak_core.datasets.synthetic.layouts import write_layout

    size = parse_size(args.size)
    start = time.perf_counter()
    with console.status(f"rendering {args.count} scenes") as status:
        root = write_layout(args.out, args.layout, args.count, size, seed=args.seed,
                            val_fraction=args.val_fraction, workers=args.workers,
                            progress=lambda done: status.update(f"rendering scene {done}/{args.count}"))
    seconds = time.perf_counter() - start
    console.print(f"wrote {args.count} scenes ({size[0]}x{size[1]}, layout {args.layout}, seed {args.seed}) "
                  f"to {root} in {seconds:.1f} s", soft_wrap=True)
    return 0

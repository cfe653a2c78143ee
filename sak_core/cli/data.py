"""`sak data`: dataset utilities; `sak data synth` writes synthetic scenes in a real layout."""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from sak_core.cli.options import MAX_IMAGE_SIDE, image_size, non_negative_int, positive_int

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
    synth.add_argument("--out", required=True,
                       help="folder to write: new or empty (an existing dataset is never written over)")
    synth.add_argument("-n", "--count", type=positive_int, default=100, help="number of scenes (default: 100)")
    synth.add_argument("--size", type=image_size, default=(128, 128), metavar="HxW",
                       help=f"image size HxW, each side at most {MAX_IMAGE_SIDE} (default: 128x128)")
    synth.add_argument("--seed", type=non_negative_int, default=0, help="random seed, 0 or more (default: 0)")
    synth.add_argument("--val-fraction", type=_fraction, default=0.2,
                       help="share of the scenes listed in the val split (default: 0.2)")
    synth.add_argument("--workers", type=positive_int, default=1, help="processes rendering in parallel (default: 1)")
    synth.set_defaults(func=run_synth)


def _fraction(text: str) -> float:
    """A share strictly between 0 and 1 (both splits get scenes)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a fraction strictly between 0 and 1 (e.g. 0.2)")
    return value


def run_synth(args: argparse.Namespace) -> int:
    from sak_core.datasets.synthetic.layouts import write_layout_in_place
    from sak_core.errors import SakError
    from sak_core.runtime.files import check_output, environment_problem

    size = args.size
    out = check_output(args.out, folder=True)  # a file on the way to it is named as such
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        what = "a folder that is not empty" if out.is_dir() else "a file"
        raise SakError(f"--out {out} is {what}: sak data synth writes only into a new or empty folder, "
                       "so that it never mixes with or replaces a dataset; choose another --out")
    start = time.perf_counter()
    with console.status(f"rendering {args.count} scenes") as status:
        try:
            root = write_layout_in_place(out, args.layout, args.count, size, seed=args.seed,
                                         val_fraction=args.val_fraction, workers=args.workers,
                                         progress=lambda done: status.update(f"rendering scene {done}/{args.count}"))
        except OSError as exc:  # a full disk, a file-size limit: named by the folder being written
            raise environment_problem(exc, out) from None
    seconds = time.perf_counter() - start
    console.print(f"wrote {args.count} scenes ({size[0]}x{size[1]}, layout {args.layout}, seed {args.seed}) "
                  f"to {root} in {seconds:.1f} s", soft_wrap=True)
    return 0

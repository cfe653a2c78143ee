"""`sak convert`: checkpoints of the authors' SAK code (innovator-zero/SAK) to sak runs and back."""

from __future__ import annotations

import argparse

from rich.console import Console

from sak_core.config import parse_override
from sak_core.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "convert",
        help="convert the authors' SAK checkpoints to sak runs and back",
        description="Convert checkpoints between the layout of the authors' code (innovator-zero/SAK, "
        "Hugging Face yxlu0/SAK) and sak run directories. Every tensor is mapped by an explicit "
        "table; a tensor left over on either side fails the conversion. See docs/official-checkpoints.md.",
    )
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    commands = parser.add_subparsers(title="directions", metavar="DIRECTION")

    official = commands.add_parser(
        "official",
        help="an authors' checkpoint -> a sak run directory",
        description="Read an authors' checkpoint (stage 1 or stage 2; {'model': state_dict} or a bare "
        "state dict; .pth read with torch.load(weights_only=True), or .safetensors) and the YAML "
        "config it was trained with, and write RUN_DIR/config.yaml, plugins.json and model.safetensors.",
    )
    official.add_argument("checkpoint", metavar="CKPT", help="the authors' checkpoint file")
    official.add_argument("--official-config", required=True, metavar="CONFIG.yml",
                          help="the authors' YAML config of the run (configs/s1/*.yml or configs/s2/*.yml)")
    official.add_argument("--out", required=True, metavar="RUN_DIR", help="run directory to write")
    official.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"),
                          help="input size the checkpoint was trained at (default: the config's dataset)")
    official.add_argument("--stem-override", action="append", default=[], metavar="KEY=VALUE",
                          help="timm ViT override for a non-standard stem (embed_dim, depth, num_heads); repeatable")
    official.add_argument("--overwrite", action="store_true",
                          help="replace RUN_DIR's model.safetensors, config.yaml and plugins.json if present")
    official.set_defaults(func=run_official)

    back = commands.add_parser(
        "to-official",
        help="a sak run or checkpoint -> an authors' checkpoint",
        description="Write a sak student as {'model': state_dict} in the authors' layout (stage-2 "
        "multi-task model when it has heads, stage-1 backbone otherwise), loadable by their "
        "test.py / train_s2.py, and optionally their YAML config.",
    )
    back.add_argument("source", metavar="RUN_OR_CKPT", help="a sak run directory or .safetensors checkpoint")
    back.add_argument("--out", required=True, metavar="FILE.pth", help="checkpoint file to write")
    back.add_argument("--official-config-out", metavar="CONFIG.yml", help="also write the authors' YAML config")
    back.add_argument("--overwrite", action="store_true",
                      help="replace --out and --official-config-out if present (never the files being read)")
    back.set_defaults(func=run_to_official)


STEM_OVERRIDE_KEYS = ("embed_dim", "depth", "num_heads")


def _overrides(items: list[str]) -> dict[str, int]:
    overrides: dict[str, int] = {}
    for item in items:
        tree = parse_override(item)
        ((key, value),) = tree.items()
        if key not in STEM_OVERRIDE_KEYS:
            raise ConfigError(f"--stem-override {item}: KEY must be one of {', '.join(STEM_OVERRIDE_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"--stem-override {item}: expected KEY=POSITIVE_INTEGER, e.g. num_heads=12")
        overrides[key] = value
    return overrides


def _print_notes(console: Console, notes: list[str]) -> None:
    for note in notes:
        console.print(f"[yellow]note:[/yellow] {note}")


def run_official(args: argparse.Namespace) -> int:
    from sak_core.convert import convert_official

    console = Console()
    conversion = convert_official(
        args.checkpoint,
        args.official_config,
        args.out,
        input_size=tuple(args.input_size) if args.input_size else None,
        stem_overrides=_overrides(args.stem_override),
        overwrite=args.overwrite,
    )
    config = conversion.student.config
    _print_notes(console, conversion.notes)
    stage = 2 if config.tasks else 1
    console.print(
        f"converted a stage-{stage} checkpoint: {len(conversion.student.state_dict())} tensors, teachers "
        f"{list(config.teachers)}, tasks {list(config.tasks) or 'none'}, input {config.input_size[0]}x"
        f"{config.input_size[1]} -> {args.out}"
    )
    return 0


def run_to_official(args: argparse.Namespace) -> int:
    from sak_core.convert import export_official

    console = Console()
    path, notes = export_official(args.source, args.out, args.official_config_out, overwrite=args.overwrite)
    _print_notes(console, notes)
    written = f"{path}" + (f" and {args.official_config_out}" if args.official_config_out else "")
    console.print(f"wrote {written}", soft_wrap=True)
    return 0

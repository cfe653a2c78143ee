"""Command-line options that several `sak` commands share: where to run and in what precision."""

from __future__ import annotations

import argparse

PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")  # sak_core.runtime.PRECISION_SETTINGS, without importing torch


def add_runtime_options(parser: argparse.ArgumentParser, precision_default: str | None = "auto") -> None:
    """``--device`` and ``--precision`` as every command that runs the student reads them."""
    parser.add_argument("--device", default="auto", help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument(
        "--precision", choices=PRECISION_CHOICES, default=precision_default,
        help="autocast of the student's forward: auto (default: bf16 where the GPU or CPU computes it "
        "natively, else fp32), fp32 (reference-exact), bf16, or fp16 (GPU); metrics are computed in fp32",
    )

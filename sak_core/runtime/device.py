"""Where and in what precision sak runs: the device, the precision ``auto`` picks, autocast and loss scaling.

Training, evaluation, prediction and the benchmarks all come through here, so a setting means the
same thing everywhere. ``auto`` picks the fastest precision the hardware runs natively:

=========================================  =====================================================
hardware                                   ``auto`` gives
=========================================  =====================================================
CUDA GPU with bf16 (Ampere and newer)      bf16
older CUDA GPU                             fp16 (the student's loss is scaled by a GradScaler)
CPU with native bf16 (AVX512-BF16 or AMX)  bf16
any other CPU or device                    fp32
=========================================  =====================================================

``fp32`` is the reference-exact mode: no autocast, fp32 teachers, the same arithmetic as the
authors' code. A teacher runs in ``optim.teacher_precision`` only when its spec declares it
(:func:`teacher_precision`); otherwise in the first precision it declares.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import NamedTuple

import torch

from sak_core.runtime.precision import PRECISION_SETTINGS
from sak_core.errors import ConfigError

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class Precision(NamedTuple):
    """A resolved precision: ``name`` is fp32, bf16 or fp16; ``reason`` says why it was picked."""

    name: str
    reason: str

    @property
    def dtype(self) -> torch.dtype:
        return DTYPES[self.name]


def resolve_device(name: str | None, local_rank: int = 0) -> torch.device:
    """``auto``/None: this process's GPU when torch sees one, else the CPU; otherwise ``name``
    (``cpu``, ``cuda``, ``cuda:N``...), checked, with a plain ``cuda`` meaning GPU ``local_rank``."""
    if name in (None, "", "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}': use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{name}' was asked for but torch sees no GPU: use --device cpu")
        if device.index is None:
            device = torch.device("cuda", local_rank)
        if device.index >= torch.cuda.device_count():
            raise ConfigError(f"device '{name}': torch sees only {torch.cuda.device_count()} GPU(s)")
        torch.cuda.set_device(device)
    return device


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 in hardware (AVX512-BF16 or AMX), by torch's own queries."""
    queries = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, q, lambda: False)()) for q in queries)


def resolve_precision(setting: str, device: torch.device) -> Precision:
    """The precision ``setting`` (auto, fp32, bf16, fp16) means on ``device``, and why."""
    if setting not in PRECISION_SETTINGS:
        raise ConfigError(f"unknown precision '{setting}': use {', '.join(PRECISION_SETTINGS)}")
    if setting == "fp16" and device.type != "cuda":
        raise ConfigError(f"fp16 needs a CUDA GPU, and this run is on {device.type}: use bf16, fp32 or auto")
    if setting != "auto":
        return Precision(setting, "asked for" + (" (the reference-exact mode)" if setting == "fp32" else ""))
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        if torch.cuda.is_bf16_supported():
            return Precision("bf16", f"auto: {gpu} computes bf16 natively")
        return Precision("fp16", f"auto: {gpu} has no bf16, so fp16 with loss scaling")
    if device.type == "cpu":
        if cpu_has_native_bf16():
            return Precision("bf16", "auto: this CPU computes bf16 natively (AVX512-BF16/AMX)")
        return Precision("fp32", "auto: this CPU has no native bf16, where reduced precision is slower")
    return Precision("fp32", f"auto: no reduced precision chosen for {device.type}")


def teacher_precision(wanted: Precision, teacher: str, declared: Sequence[str], device: torch.device) -> Precision:
    """The precision teacher ``teacher`` runs in: ``wanted`` (``optim.teacher_precision``,
    resolved) when the teacher declares it, else the first of ``declared`` that ``device`` runs
    (fp16 needs a CUDA GPU), with the reason. The core never casts a teacher to a dtype it did not
    declare; a teacher declaring none that runs here is a :class:`ConfigError`."""
    if wanted.name in declared:
        return wanted
    runnable = [p for p in declared if p != "fp16" or device.type == "cuda"]
    if not runnable:
        raise ConfigError(f"teacher '{teacher}' runs only in {', '.join(declared)}, which {device.type} does not run: "
                          "use a CUDA GPU (--device cuda)")
    return Precision(runnable[0], f"teacher '{teacher}' declares {', '.join(declared)}, not {wanted.name}")


def as_precision(precision: Precision | str, device: torch.device) -> Precision:
    """``precision`` as a resolved :class:`Precision`. An entry point (the command line, the
    Trainer) resolves a setting once and passes the object down, which goes through as it is;
    a setting string (auto, fp32, bf16, fp16: the older form of the library functions' argument)
    is resolved for ``device`` here, once, at the top of the function that takes it."""
    return precision if isinstance(precision, Precision) else resolve_precision(precision, device)


def autocast(device: torch.device, precision: Precision | str) -> contextlib.AbstractContextManager:
    """The student's forward and loss context: bf16/fp16 autocast, or nothing for fp32.

    ``precision`` is a resolved :class:`Precision` (a setting string is resolved for ``device``).
    """
    name = as_precision(precision, device).name
    if name == "fp32":
        return contextlib.nullcontext()
    # Without autograd each weight is cast once and used once, so autocast's cache of cast
    # weights would only keep a second copy of the model alive until the context exits.
    return torch.autocast(device_type=device.type, dtype=DTYPES[name], cache_enabled=torch.is_grad_enabled())


def grad_scaler(device: torch.device, precision: Precision | str) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16 (None otherwise: bf16 and fp32 need no loss scaling)."""
    if as_precision(precision, device).name != "fp16":
        return None
    return torch.amp.GradScaler(device.type)

"""Mixed precision: autocast for the student, a gradient scaler for fp16, reduced-precision teachers."""

from __future__ import annotations

import contextlib

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """The student's forward and loss context: bf16/fp16 autocast, or nothing for fp32."""
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("fp16 training needs a GPU; on CPU use optim.precision=bf16 or fp32")
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler | None:
    """A GradScaler for fp16 (None otherwise: bf16 and fp32 need no loss scaling)."""
    if precision != "fp16":
        return None
    return torch.amp.GradScaler(device.type)


def teacher_dtype(device: torch.device, setting: str) -> torch.dtype:
    """The teachers' weight and input dtype: ``auto`` is bf16 on a GPU that supports it (fp16 on
    older GPUs) and fp32 on CPU, where reduced precision is slower, not faster."""
    if setting != "auto":
        return DTYPES[setting]
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

"""The precision settings sak accepts (torch-free, so the config can name them).

``auto`` picks the fastest precision the hardware runs natively; ``fp32`` is the reference-exact
mode. :func:`sak_core.runtime.device.resolve_precision` turns a setting into a precision.
"""

from __future__ import annotations

from typing import Literal, get_args

PrecisionSetting = Literal["auto", "fp32", "bf16", "fp16"]
PRECISION_SETTINGS: tuple[str, ...] = get_args(PrecisionSetting)
